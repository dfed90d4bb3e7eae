// The ApiRoute API, v1alpha1. This file is the single source of truth: the TypeScript
// types, the runtime validation, the defaults and the CRD (see crd.ts) all come from it.
// Every field has a description because `kubectl explain apiroute.spec` shows them.
import { z } from 'zod';
import { LOG_LEVELS } from '../common/log-level.js';
import {
  cidr,
  dnsLabel,
  dnsSubdomain,
  duration,
  DURATION,
  durationToMs,
  headerName,
  httpUrl,
  port,
  quantity,
  regex,
  TOKEN,
} from './fields.js';
import { composeBackendIssues, composeRouteIssues, ComposeSchema } from './compose-schema.js';
import {
  AutoscalingSchema,
  DEFAULT_GATEWAY_REPLICAS,
  GATEWAY_POD_FIELDS,
  refineGatewayScaling,
  REPLICAS_OR_AUTOSCALING_RULE,
} from './gateway-pod-schema.js';
import { jsonPathError, JSON_PATH, MAX_JSON_PATH_LENGTH } from './json-path.js';
import { grpcBackendError, GrpcSchema } from './grpc-schema.js';
import { isPathTemplate, pathTemplateError } from './path-template.js';
import { quantityValue } from './quantity.js';
import { CachePurgeSchema, CacheSchema, checkCacheMemory } from './cache-schema.js';
import { CEL_NO_LOOKAROUND_OR_BACKREFERENCE, routeRegexError } from './regex.js';
import { TracingSchema } from './tracing-schema.js';

export const GROUP = 'figway.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ApiRoute';
export const PLURAL = 'apiroutes';

export const MAX_ROUTES = 100;
export const MAX_BACKENDS = 8;
export const MAX_TRUSTED_PROXIES = 64;

/** Where traffic goes when no route matches: an in-cluster Service or an external URL. */
export const MonolithSchema = z
  .strictObject({
    service: dnsLabel('Name of the monolith Service in the ApiRoute namespace.').optional(),
    port: port('Port of the monolith Service.').optional(),
    url: httpUrl(
      'Base URL of a monolith outside the cluster, e.g. https://legacy.example.com. Use instead of service and port.',
    ).optional(),
  })
  .superRefine((m, ctx) => {
    const byService = m.service !== undefined || m.port !== undefined;
    if (byService && m.url !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'set either url or service and port, not both',
      });
    } else if (!byService && m.url === undefined) {
      ctx.addIssue({ code: 'custom', message: 'set either url or service and port' });
    } else if (byService && (m.service === undefined || m.port === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [m.service === undefined ? 'service' : 'port'],
        message: 'service and port go together: set both',
      });
    }
  })
  .meta({
    description:
      'The legacy monolith: the trunk that serves every request no route claims. Either {service, port} or {url}.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.url) != (has(self.service) && has(self.port))',
        message: 'set either url or both service and port',
      },
      {
        rule: 'has(self.service) == has(self.port)',
        message: 'service and port go together: set both',
      },
    ],
  });

const ResourceListSchema = z
  .strictObject({
    cpu: quantity('CPU, e.g. 100m.').optional(),
    memory: quantity('Memory, e.g. 128Mi.').optional(),
  })
  .meta({ description: 'CPU and memory quantities.' });

export const AccessLogSchema = z
  .strictObject({
    sampleRatio: z
      .number()
      .min(0, { error: (i) => `must be between 0 and 1, got ${String(i.input)}` })
      .max(1, { error: (i) => `must be between 0 and 1, got ${String(i.input)}` })
      .default(1)
      .meta({
        description:
          'Share of requests logged, 0 to 1 (e.g. 0.01 for one in a hundred). Default 1: every request.',
      }),
    alwaysLogErrors: z.boolean().default(true).meta({
      description:
        'Also log every failed request whatever the sample: 5xx, answers cut off, and requests the gateway refused (4xx of its own).',
    }),
    redactQuery: z.boolean().default(true).meta({
      description:
        'Log query parameter names with their values replaced by <redacted> (tokens travel in query strings). false logs them as sent.',
    }),
  })
  .meta({
    description:
      "JSON access log lines on the gateway's stdout: client address (per trustedProxies), host, method, normalised path, route, backend, status, bytes in and out, upstream and total time, request id. Off when omitted (the operator's chart-wide default applies).",
  });

export const GatewaySpecSchema = z
  .strictObject({
    // No CRD default: the API server would fill it in and refuse every autoscaling gateway.
    replicas: z
      .int()
      .min(0, { error: (i) => `must be between 0 and 50, got ${String(i.input)}` })
      .max(50, { error: (i) => `must be between 0 and 50, got ${String(i.input)}` })
      .optional()
      .meta({
        description: `Number of gateway pods (default ${String(DEFAULT_GATEWAY_REPLICAS)}; not with autoscaling). A PodDisruptionBudget is added when > 1.`,
      }),
    autoscaling: AutoscalingSchema.optional(),
    ...GATEWAY_POD_FIELDS,
    resources: z
      .strictObject({
        requests: ResourceListSchema.optional(),
        limits: ResourceListSchema.optional(),
      })
      .optional()
      .meta({
        description:
          'Compute resources of the gateway container (default: requests 100m CPU and 128Mi, limit 256Mi memory). Half the memory limit becomes the V8 old-generation cap.',
      }),
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .meta({ description: "Gateway image override; defaults to the operator's own image." }),
    podAnnotations: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Annotations added to the gateway pods.' }),
    logLevel: z
      .enum(LOG_LEVELS)
      .default('info')
      .meta({ description: 'Gateway log level: error, warn, info or debug.' }),
    backendHeader: headerName(
      'Response header that names the backend that served each request (e.g. monolith or orders).',
    ).default('x-figway-backend'),
    trustedProxies: z
      .array(
        cidr('A CIDR range such as 10.0.0.0/8 or fd00::/8, or a single address such as 10.0.0.7.'),
      )
      .max(MAX_TRUSTED_PROXIES, {
        error: `must list at most ${MAX_TRUSTED_PROXIES} ranges; cover them with wider CIDRs`,
      })
      .default([])
      .meta({
        description:
          "Peers whose X-Forwarded-For, -Proto and -Host the gateway believes, e.g. the load balancer's addresses. From other peers these headers are replaced (For: the peer's address; Proto and Host: what the gateway saw), and the client address of clientIp cohorts is the peer. From a trusted peer, the client address is the rightmost X-Forwarded-For entry that is not itself trusted. Default: none.",
      }),
    accessLog: AccessLogSchema.optional(),
    cachePurge: CachePurgeSchema.optional(),
    tracing: TracingSchema.optional(),
  })
  .superRefine(refineGatewayScaling)
  .meta({
    description: "Shape of this ApiRoute's dedicated gateway Deployment.",
    'x-kubernetes-validations': [REPLICAS_OR_AUTOSCALING_RULE],
  });

export const PATH_MATCH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;
export const VALUE_MATCH_TYPES = ['Exact', 'RegularExpression'] as const;
/** Where RE2 syntax is documented; named in descriptions so users know what to write. */
const RE2_SYNTAX = 'RE2 syntax: https://github.com/google/re2/wiki/Syntax';

/**
 * The API server's half of the route regex check (regex.ts): CEL can refuse lookaround and
 * backreferences at admission; everything else RE2 refuses gets Accepted=False.
 */
const REGEX_CEL_RULE = {
  rule: `self.type != 'RegularExpression' || self.value.matches(r'${CEL_NO_LOOKAROUND_OR_BACKREFERENCE}')`,
  fieldPath: '.value',
  message:
    'must be an RE2 regular expression without lookahead ((?=, (?!), lookbehind ((?<=, (?<!) or backreferences (\\1, \\k<name>): RE2 matches in linear time and has none of them',
};

/** Adds the route regex refusal, naming the value field, to a match with a type. */
function refuseBadRegex(m: { type: string; value: string }, ctx: z.RefinementCtx): void {
  if (m.type !== 'RegularExpression') return;
  const error = routeRegexError(m.value);
  if (error) ctx.addIssue({ code: 'custom', path: ['value'], message: error });
}

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
] as const;

const PathMatchSchema = z
  .strictObject({
    type: z
      .enum(PATH_MATCH_TYPES)
      .default('PathPrefix')
      .meta({
        description: `Exact (the whole path), PathPrefix (whole path segments: /api matches /api and /api/x, not /apix) or RegularExpression (${RE2_SYNTAX}; matched against the whole path, in linear time; no lookahead, lookbehind or backreferences).`,
      }),
    value: z.string().min(1).max(1024).meta({
      description:
        'The path, or the RE2 regular expression, to match. Path parameters: a whole segment {name} in an Exact or PathPrefix path matches one segment (/api/customers/{id}/overview); in a RegularExpression, RE2 named groups ((?P<id>[0-9]+)). Composition parts and gRPC fields refer to them as {name}.',
    }),
  })
  .superRefine((p, ctx) => {
    if (p.type !== 'RegularExpression' && !p.value.startsWith('/')) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `must start with '/' for type ${p.type}, got ${JSON.stringify(p.value)}`,
      });
    }
    const templateError = p.type === 'RegularExpression' ? undefined : pathTemplateError(p.value);
    if (templateError) ctx.addIssue({ code: 'custom', path: ['value'], message: templateError });
    refuseBadRegex(p, ctx);
  })
  .meta({
    description: 'How the request path is matched.',
    'x-kubernetes-validations': [REGEX_CEL_RULE],
  });

function valueMatch(what: string) {
  return z
    .strictObject({
      name: headerName(`Name of the ${what}.`),
      value: regex(
        `Value to compare with, or an RE2 regular expression when type is RegularExpression.`,
      ),
      type: z
        .enum(VALUE_MATCH_TYPES)
        .default('Exact')
        .meta({
          description: `Exact or RegularExpression (${RE2_SYNTAX}; matched against the whole value).`,
        }),
    })
    .superRefine(refuseBadRegex)
    .meta({
      description: `A ${what} that must be present with a matching value.`,
      'x-kubernetes-validations': [REGEX_CEL_RULE],
    });
}

export const MatchSchema = z
  .strictObject({
    path: PathMatchSchema,
    methods: z
      .array(z.enum(HTTP_METHODS))
      .max(HTTP_METHODS.length)
      .optional()
      .meta({ description: 'HTTP methods this route takes; all methods when omitted.' }),
    headers: z
      .array(valueMatch('request header'))
      .max(16)
      .optional()
      .meta({ description: 'Request headers that must all match.' }),
    query: z
      .array(valueMatch('query parameter'))
      .max(16)
      .optional()
      .meta({ description: 'Query parameters that must all match.' }),
  })
  .meta({
    description:
      'Which requests this route claims. Precedence between routes: Exact path, then the longest PathPrefix, then RegularExpression; then routes with methods, then more header matches.',
  });

export const BackendSchema = z
  .strictObject({
    service: dnsLabel(
      'Name of a Service in the ApiRoute namespace (the new microservice).',
    ).optional(),
    port: port('Port of the Service.').optional(),
    url: httpUrl(
      'Base URL of a backend outside the cluster. Use instead of service and port.',
    ).optional(),
    monolith: z
      .boolean()
      .optional()
      .meta({ description: 'true: this backend is the monolith of spec.monolith.' }),
    weight: z
      .int({ error: (i) => `must be an integer between 0 and 100, got ${JSON.stringify(i.input)}` })
      .min(0, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .max(100, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .meta({
        description:
          'Share of traffic in percent. The weights of a route add up to 100; the share of the non-monolith backends is the migration progress.',
      }),
  })
  .superRefine((b, ctx) => {
    const kinds = [
      b.service !== undefined || b.port !== undefined,
      b.url !== undefined,
      b.monolith === true,
    ].filter(Boolean).length;
    if (kinds !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `set exactly one of {service, port}, {url} or {monolith: true}, got ${kinds === 0 ? 'none' : 'several'}`,
      });
    } else if ((b.service === undefined) !== (b.port === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [b.service === undefined ? 'service' : 'port'],
        message: 'service and port go together: set both',
      });
    }
  })
  .meta({
    description: 'One side of the strangler split: a Service, a URL, or the monolith.',
    'x-kubernetes-validations': [
      {
        rule: '[has(self.service) || has(self.port), has(self.url), has(self.monolith) && self.monolith].filter(x, x).size() == 1',
        message: 'set exactly one of {service, port}, {url} or {monolith: true}',
      },
      {
        rule: 'has(self.service) == has(self.port)',
        message: 'service and port go together: set both',
      },
    ],
  });

export const CohortSchema = z
  .strictObject({
    header: headerName(
      'Request header whose value identifies the user, e.g. x-user-id.',
    ).optional(),
    cookie: z
      .string()
      .max(256)
      .regex(TOKEN, {
        error: (i) => `must be a valid cookie name, got ${JSON.stringify(i.input)}`,
      })
      .optional()
      .meta({ description: 'Cookie whose value identifies the user, e.g. session.' }),
    clientIp: z
      .boolean()
      .optional()
      .meta({ description: 'true: the client IP address identifies the user.' }),
    claim: z.string().min(1).max(256).optional().meta({
      description:
        "Claim of the route's verified JWT (auth.jwt) that identifies the user, e.g. sub. Requests without a token (optional: true) are split at random.",
    }),
  })
  .superRefine((c, ctx) => {
    const kinds = [
      c.header !== undefined,
      c.cookie !== undefined,
      c.clientIp === true,
      c.claim !== undefined,
    ].filter(Boolean).length;
    if (kinds !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'set exactly one of header, cookie, claim or clientIp: true',
      });
    }
  })
  .meta({
    description:
      'Sticky cohorts: the key hashes to a point in [0,100) and the request goes to the new service when the point is below its weight, so raising the weight only moves users from the monolith to the new service. Requests without the key are split at random.',
    'x-kubernetes-validations': [
      {
        rule: '[has(self.header), has(self.cookie), has(self.claim), has(self.clientIp) && self.clientIp].filter(x, x).size() == 1',
        message: 'set exactly one of header, cookie, claim or clientIp: true',
      },
    ],
  });

export const RETRY_CONDITIONS = ['connect-failure', '502', '503', '504'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

const RetryConditionSchema = z
  .union([z.string(), z.number()])
  .transform((value) => String(value))
  .pipe(
    z.enum(RETRY_CONDITIONS, {
      error: (i) => `must be one of connect-failure, 502, 503, 504, got ${JSON.stringify(i.input)}`,
    }),
  )
  .meta({
    description: 'connect-failure, 502, 503 or 504.',
    'x-kubernetes-int-or-string': true,
  });

export const RetriesSchema = z
  .strictObject({
    attempts: z
      .int()
      .min(0, { error: (i) => `must be between 0 and 5, got ${String(i.input)}` })
      .max(5, { error: (i) => `must be between 0 and 5, got ${String(i.input)}` })
      .default(0)
      .meta({
        description: 'Retries after the first try (0 to 5). Only idempotent methods are retried.',
      }),
    perTryTimeout: duration(
      'Timeout of each try, e.g. 1s; defaults to the route timeout.',
    ).optional(),
    // Not `on`: YAML 1.1 parsers (kubectl's among them) read the key `on` as boolean true.
    conditions: z
      .array(RetryConditionSchema)
      .max(4)
      .default(['connect-failure', '502', '503'])
      .meta({
        description:
          'Failures that cause a retry: connect-failure, 502, 503, 504. Default: connect-failure, 502, 503.',
        'x-kubernetes-validations': [
          {
            // Branch on the type: string(c) on an int-or-string has no size bound, and
            // its estimated cost exceeds the API server's CEL budget.
            rule: "self.all(c, type(c) == int ? c in [502, 503, 504] : c in ['connect-failure', '502', '503', '504'])",
            message: 'entries must be connect-failure, 502, 503 or 504',
          },
        ],
      }),
  })
  .meta({ description: 'Retries for idempotent requests.' });

export const RewriteSchema = z
  .strictObject({
    pathPrefix: z
      .string()
      .max(1024)
      .regex(/^\//, { error: "must start with '/'" })
      .optional()
      .meta({ description: 'Replace the matched PathPrefix with this prefix.' }),
    fullPath: z
      .string()
      .max(1024)
      .regex(/^\//, { error: "must start with '/'" })
      .optional()
      .meta({ description: 'Replace the whole path with this path (the query string is kept).' }),
  })
  .refine((r) => !(r.pathPrefix !== undefined && r.fullPath !== undefined), {
    error: 'set pathPrefix or fullPath, not both',
  })
  .meta({
    description: 'Path rewrite applied before the request goes upstream.',
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.pathPrefix) && has(self.fullPath))',
        message: 'set pathPrefix or fullPath, not both',
      },
    ],
  });

export function headerModifierSchema(what: string) {
  return z
    .strictObject({
      set: z
        .record(z.string(), z.string().max(4096))
        .optional()
        .meta({ description: `${what} headers to set, replacing any value.` }),
      add: z
        .record(z.string(), z.string().max(4096))
        .optional()
        .meta({ description: `${what} headers to add, keeping existing values.` }),
      remove: z
        .array(z.string().max(256))
        .max(32)
        .optional()
        .meta({ description: `${what} headers to remove.` }),
    })
    .superRefine((m, ctx) => {
      for (const key of ['set', 'add'] as const) {
        for (const name of Object.keys(m[key] ?? {})) {
          if (!TOKEN.test(name)) {
            ctx.addIssue({
              code: 'custom',
              path: [key, name],
              message: `is not a valid HTTP header name (RFC 9110 token)`,
            });
          }
        }
      }
    })
    .meta({ description: `Changes to ${what.toLowerCase()} headers.` });
}

/**
 * The annotation through which `figway migration promote|pause|resume|abort` commands a
 * route's migration: `migration.figway.dev/<route>: "<verb> <unique id>"`. The operator
 * records the last value it acted on in status, so each command acts once and spec (and
 * GitOps) never changes.
 */
export const MIGRATION_COMMAND_ANNOTATION_PREFIX = 'migration.figway.dev/';

export function migrationCommandAnnotation(route: string): string {
  return `${MIGRATION_COMMAND_ANNOTATION_PREFIX}${route}`;
}

/** The shortest migration interval: a step must span a few scrapes to be judged at all. */
export const MIN_MIGRATION_INTERVAL = '10s';
export const MIGRATION_FAILURE_ACTIONS = ['Rollback', 'Pause'] as const;

const ratio = (what: string, min: number, max: number) =>
  z
    .number({ error: (i) => `must be a number, got ${JSON.stringify(i.input)}` })
    .min(min, { error: (i) => `must be between ${min} and ${max}${what}, got ${String(i.input)}` })
    .max(max, { error: (i) => `must be between ${min} and ${max}${what}, got ${String(i.input)}` });

export const MigrationAnalysisSchema = z
  .strictObject({
    maxErrorRatioIncrease: ratio(' (a ratio: 0.01 is one percentage point)', 0, 1)
      .default(0.01)
      .meta({
        description:
          "How much higher the new service's 5xx ratio may be than the monolith's on the same route, as a ratio (0.01: one percentage point). A step fails when the new service is worse beyond this at the given confidence, passes when it is within it at that confidence. Default 0.01.",
      }),
    maxLatencyRatio: ratio('', 0.01, 100).optional().meta({
      description:
        "Largest new-service p99 latency as a multiple of the monolith's (1.5: at most 50% slower), compared once each side has 100 requests in the step. Not judged when omitted.",
    }),
    maxShadowMismatchRatio: ratio('', 0, 1).optional().meta({
      description:
        'Largest share of shadow comparisons whose noise-cancelled responses differ (0.001: one in a thousand), at the given confidence. Needs shadow on the route. Not judged when omitted.',
    }),
    confidence: ratio('', 0.5, 0.9999).default(0.95).meta({
      description:
        'Confidence of each verdict, 0.5 to 0.9999 (default 0.95). Higher needs more requests per step.',
    }),
    minRequests: z
      .int({ error: (i) => `must be an integer, got ${JSON.stringify(i.input)}` })
      .min(1, { error: (i) => `must be between 1 and 1000000, got ${String(i.input)}` })
      .max(1_000_000, { error: (i) => `must be between 1 and 1000000, got ${String(i.input)}` })
      .default(100)
      .meta({
        description:
          'Least new-service requests in a step before any verdict (default 100). Below it the step waits for traffic, and status says how many more it needs.',
      }),
  })
  .meta({
    description:
      'How each step is judged. Queries are built in: figway reads the gateway metrics from Prometheus, users write no PromQL.',
  });

export const MigrationSchema = z
  .strictObject({
    steps: z
      .array(
        z
          .int({ error: (i) => `must be an integer percentage, got ${JSON.stringify(i.input)}` })
          .min(1, { error: (i) => `must be between 1 and 100 (percent), got ${String(i.input)}` })
          .max(100, {
            error: (i) => `must be between 1 and 100 (percent), got ${String(i.input)}`,
          }),
      )
      .min(2, { error: 'must list at least two steps: a first share to judge and the last one' })
      .max(20, { error: 'must list at most 20 steps' })
      .superRefine((steps, ctx) => {
        steps.forEach((step, index) => {
          const previous = steps[index - 1];
          if (previous !== undefined && step <= previous) {
            ctx.addIssue({
              code: 'custom',
              path: [index],
              message: `must be above the step before it (${previous}): steps are strictly ascending, got ${step}`,
            });
          }
        });
      })
      .meta({
        description:
          'New-service weight (percent) at each step, strictly ascending, e.g. [5, 25, 50, 100]. The migration starts at the first step, and is Promoted when the step before the last passes.',
        'x-kubernetes-list-type': 'set',
        'x-kubernetes-validations': [
          { rule: 'self.isSorted()', message: 'steps must be strictly ascending' },
        ],
      }),
    interval: duration(
      `Least time at a step before it is promoted, at least ${MIN_MIGRATION_INTERVAL} (e.g. 5m, the default). A failing step is acted on earlier, at the next check (every interval, at most every 30s).`,
    )
      .default('5m')
      .refine((value) => durationToMs(value) >= durationToMs(MIN_MIGRATION_INTERVAL), {
        error: (i) =>
          `must be at least ${MIN_MIGRATION_INTERVAL}: a shorter step spans too few Prometheus scrapes to be judged, got ${JSON.stringify(i.input)}`,
      })
      .meta({
        'x-kubernetes-validations': [
          {
            rule: `duration(self) >= duration('${MIN_MIGRATION_INTERVAL}')`,
            message: `must be at least ${MIN_MIGRATION_INTERVAL}`,
          },
        ],
      }),
    analysis: MigrationAnalysisSchema.prefault({}),
    onFailure: z.enum(MIGRATION_FAILURE_ACTIONS).default('Rollback').meta({
      description:
        'What a failed step does: Rollback (the default) sends all traffic back to the monolith; Pause holds the weight of the failing step until `figway migration resume`, `promote` or `abort`.',
    }),
  })
  .meta({
    description:
      "Migration autopilot: moves the new-service weight through steps, judging each on the gateway metrics (new service vs monolith), and rolls back on its own. With it, the backends say where traffic goes (their weights only split the step's share among several new services) and the steps say how fast. The state is in status.routes[].migration; `figway migration` pauses, resumes, promotes and aborts.",
  });

/** How a CORS origin is written: `*`, an exact origin, or a wildcard subdomain. */
const CORS_ORIGIN =
  /^(\*|https?:\/\/(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?)$/;

export const CorsSchema = z
  .strictObject({
    allowOrigins: z
      .array(
        z
          .string()
          .max(256)
          .regex(CORS_ORIGIN, {
            error: (i) =>
              `must be an origin such as https://shop.example.com, a wildcard subdomain such as https://*.example.com, or *; lowercase, without a path, got ${JSON.stringify(i.input)}`,
          })
          .meta({
            description:
              'An origin (scheme://host[:port]), https://*.example.com for any subdomain of example.com, or * for any origin.',
          }),
      )
      .min(1, { error: 'must list at least one origin' })
      .max(64, { error: 'must list at most 64 origins; use a wildcard subdomain' })
      .meta({ description: 'Origins whose browsers may call this route.' }),
    allowMethods: z
      .array(z.enum(HTTP_METHODS))
      .min(1)
      .max(HTTP_METHODS.length)
      .default(['GET', 'HEAD', 'POST'])
      .meta({ description: 'Methods a preflight allows. Default: GET, HEAD, POST.' }),
    allowHeaders: z.array(headerName('A request header name.')).max(64).default([]).meta({
      description:
        'Request headers a preflight allows besides the CORS-safelisted ones, e.g. content-type, authorization.',
    }),
    exposeHeaders: z
      .array(headerName('A response header name.'))
      .max(64)
      .default([])
      .meta({ description: 'Response headers scripts may read, e.g. x-request-id.' }),
    maxAge: duration('How long a browser may cache a preflight answer, e.g. 10m.').optional(),
    allowCredentials: z.boolean().default(false).meta({
      description:
        'true: browsers may send cookies and Authorization. Not with the origin *, which the Fetch standard forbids with credentials.',
    }),
  })
  .superRefine((c, ctx) => {
    const star = c.allowOrigins.indexOf('*');
    if (c.allowCredentials && star >= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowOrigins', star],
        message:
          'cannot be * with allowCredentials: true (the Fetch standard forbids it); list the origins, or set allowCredentials: false',
      });
    }
  })
  .meta({
    description:
      'Cross-origin resource sharing. The gateway answers preflights itself (they never reach an upstream) and adds the CORS headers to actual requests from an allowed origin; other origins get no CORS headers.',
    'x-kubernetes-validations': [
      {
        rule: "!(has(self.allowCredentials) && self.allowCredentials && self.allowOrigins.exists(o, o == '*'))",
        fieldPath: '.allowOrigins',
        message:
          'cannot contain * with allowCredentials: true (the Fetch standard forbids it); list the origins',
      },
    ],
  });

/** A key of a Secret's data (Kubernetes' IsConfigMapKey). */
const SECRET_DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/** Signature algorithms a JWT may use: asymmetric only, so a public JWKS can verify them. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

export const JwtSchema = z
  .strictObject({
    issuer: httpUrl('The token issuer (the iss claim must equal it), e.g. https://id.example.com.'),
    audiences: z
      .array(z.string().min(1).max(256))
      .min(1, { error: 'must list at least one audience (the aud claim must hold one of them)' })
      .max(16)
      .meta({ description: 'Accepted audiences: the aud claim must hold one of them.' }),
    jwksUri: httpUrl(
      "URL of the issuer's JSON Web Key Set, e.g. https://id.example.com/.well-known/jwks.json. Or jwksSecretRef.",
    ).optional(),
    jwksSecretRef: z
      .strictObject({
        name: dnsSubdomain(
          'Secret in the ApiRoute namespace. The gateway reads only the Secrets its ApiRoute names and follows their changes without a restart.',
        ),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(SECRET_DATA_KEY, {
            error: (i) =>
              `must be a Secret data key (letters, digits, '-', '_', '.'), got ${JSON.stringify(i.input)}`,
          })
          .meta({ description: 'The data key holding the JWKS JSON, e.g. jwks.json.' }),
      })
      .optional()
      .meta({
        description:
          'The JSON Web Key Set from a Secret instead of a URL, for issuers the gateway cannot reach. A broken JWKS in the Secret leaves the last good keys in use.',
      }),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .max(JWT_ALGORITHMS.length)
      .default([...JWT_ALGORITHMS])
      .meta({
        description:
          'Signature algorithms accepted. Default: every asymmetric one (RS*, PS*, ES*, EdDSA); none, HS* and keys of another type are refused.',
      }),
    clockSkew: duration(
      'Leeway for exp and nbf against the gateway clock, at most 5m. Default 30s.',
    ).default('30s'),
    claimsToHeaders: z
      .array(
        z.strictObject({
          claim: z.string().min(1).max(256).meta({ description: 'Claim name, e.g. sub.' }),
          header: headerName('Request header for the upstream, e.g. x-user-id.'),
        }),
      )
      .max(16)
      .default([])
      .meta({
        description:
          'Claims sent upstream as request headers. A header of the same name from the client is always removed, so it cannot be forged.',
      }),
    requiredClaims: z
      .array(
        z.strictObject({
          claim: z.string().min(1).max(256).meta({ description: 'Claim name, e.g. scope.' }),
          values: z.array(z.string().min(1).max(256)).min(1).max(16).meta({
            description:
              'Accepted values: the claim (a string, a space-separated scope string or an array) must hold one.',
          }),
        }),
      )
      .max(8)
      .default([])
      .meta({ description: 'Claims a valid token must also carry, else 403.' }),
    optional: z.boolean().default(false).meta({
      description:
        'true: requests without a token go through anonymously; a token that is present is still checked.',
    }),
  })
  .superRefine((j, ctx) => {
    if ((j.jwksUri === undefined) === (j.jwksSecretRef === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `set exactly one of jwksUri or jwksSecretRef, got ${j.jwksUri === undefined ? 'none' : 'both'}`,
      });
    }
    if (DURATION.test(j.clockSkew) && durationToMs(j.clockSkew) > 300_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['clockSkew'],
        message: `must be at most 5m, got ${j.clockSkew}; fix the clocks instead`,
      });
    }
  })
  .meta({
    description:
      'JSON Web Tokens (Authorization: Bearer) checked with the issuer JWKS: signature, iss, aud, exp and nbf. 401 for a missing or invalid token, 403 when requiredClaims are not met.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.jwksUri) != has(self.jwksSecretRef)',
        message: 'set exactly one of jwksUri or jwksSecretRef',
      },
    ],
  });

/** The header API keys travel in when an apiKey policy names none. */
export const DEFAULT_API_KEY_HEADER = 'x-api-key';

export const ApiKeySchema = z
  .strictObject({
    header: headerName('Request header that carries the API key.').default(DEFAULT_API_KEY_HEADER),
    secretRef: z
      .strictObject({
        name: dnsSubdomain(
          'Secret in the ApiRoute namespace whose data maps each consumer name to its key. The gateway reads only the Secrets its ApiRoute names and follows their changes without a restart.',
        ),
      })
      .meta({ description: 'The Secret holding the keys.' }),
  })
  .meta({
    description:
      "API keys: a request must carry one of the Secret's keys in the header, or it gets 401. The consumer (the key's name in the Secret) goes upstream in x-figway-consumer and into the access log; the key never does.",
  });

export const AuthSchema = z
  .strictObject({ jwt: JwtSchema.optional(), apiKey: ApiKeySchema.optional() })
  .meta({
    description:
      'Who may call: requests without valid credentials get 401. On a route, auth replaces spec.defaults.auth as a whole (auth: {} turns it off).',
  });

/** Largest rate a rate limit can state, per second; far above what one gateway serves. */
export const MAX_REQUESTS_PER_SECOND = 1_000_000;

/** A rate-limit key: whose budget a request spends. */
export const RATE_LIMIT_KEY =
  /^(clientIp|apiKey|header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}|claim:[!-~]{1,256})$/;

export const RateLimitSchema = z
  .strictObject({
    requestsPerSecond: z
      .number({ error: (i) => `must be a number greater than 0, got ${JSON.stringify(i.input)}` })
      .positive({ error: (i) => `must be greater than 0, got ${String(i.input)}` })
      .max(MAX_REQUESTS_PER_SECOND, {
        error: (i) => `must be at most ${MAX_REQUESTS_PER_SECOND}, got ${String(i.input)}`,
      })
      .meta({
        description: 'Sustained rate each key may send, e.g. 100 (fractions allowed: 0.5).',
      }),
    burst: z
      .int({ error: (i) => `must be a whole number of requests, got ${JSON.stringify(i.input)}` })
      .positive({ error: (i) => `must be greater than 0, got ${String(i.input)}` })
      .max(MAX_REQUESTS_PER_SECOND * 3600, { error: 'must be at most 3600 × the maximum rate' })
      .optional()
      .meta({
        description:
          'Most requests a key may send at once; the budget is burst requests per burst/requestsPerSecond seconds. At least requestsPerSecond; default: requestsPerSecond rounded up.',
      }),
    key: z
      .string()
      .max(263)
      .regex(RATE_LIMIT_KEY, {
        error: (i) =>
          `must be clientIp, apiKey, header:<header name> or claim:<claim name>, got ${JSON.stringify(i.input)}`,
      })
      .default('clientIp')
      .meta({
        description:
          "Whose budget a request spends: clientIp (the client address under trustedProxies), header:<name>, claim:<name> (a JWT claim, with auth.jwt) or apiKey (the consumer, with auth.apiKey). Requests without the key spend their client address's budget. Default: clientIp.",
      }),
    shared: z.boolean().default(false).meta({
      description:
        "false: each gateway replica keeps its own budget. true: one budget across all replicas, kept in Redis (the operator's gateway.redis settings); while Redis is unreachable each replica falls back to its own budget.",
    }),
  })
  .superRefine((limit, ctx) => {
    // A burst that is already refused (0, negative) needs no second message.
    if (limit.burst !== undefined && limit.burst > 0 && limit.burst < limit.requestsPerSecond) {
      ctx.addIssue({
        code: 'custom',
        path: ['burst'],
        message: `must be at least requestsPerSecond (${limit.requestsPerSecond}), got ${limit.burst}`,
      });
    }
  })
  .meta({
    description: 'Rate limit: answered with 429, Retry-After and the RateLimit headers.',
    'x-kubernetes-validations': [
      {
        rule: '!has(self.burst) || double(self.burst) >= double(self.requestsPerSecond)',
        message: 'burst must be at least requestsPerSecond',
      },
    ],
  });

/** Methods without side effects (RFC 9110 §9.2.1): the only ones shadowed unless allowed. */
export const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE'] as const;
/** Largest shadow.maxBodyBytes: the gateway holds up to four such copies per comparison. */
export const MAX_SHADOW_BODY = '16Mi';
const MAX_SHADOW_BODY_BYTES = 16 * 1024 * 1024;

const ShadowCompareSchema = z
  .strictObject({
    headers: z.array(headerName('A response header name.')).max(16).default(['content-type']).meta({
      description:
        'Response headers compared (names, case-insensitive). Default: content-type. The status is always compared.',
    }),
    ignore: z
      .array(
        z
          .string()
          .max(MAX_JSON_PATH_LENGTH, {
            error: `must be at most ${MAX_JSON_PATH_LENGTH} characters`,
          })
          .regex(JSON_PATH, {
            error: (i) =>
              jsonPathError(i.input as string) ??
              `is not a supported JSON path: ${String(i.input)}`,
          })
          .meta({ description: 'A JSON path, e.g. $.timestamp or $.items[*].updatedAt.' }),
      )
      .max(32)
      .default([])
      .meta({
        description:
          "JSON paths never compared: $ then .name, ['name'], [*] or .* (every element or member), ..name (that name at any depth). Array indices are grouped as [*].",
      }),
    noiseCancellation: z.boolean().default(false).meta({
      description:
        'Send each shadowed request a second time to the monolith and learn which fields differ between two monolith answers anyway (timestamps, ids): a field is a real difference only when the new service differs from the monolith clearly more often than the monolith differs from itself.',
    }),
    keepSamples: z
      .int()
      .min(0, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .max(100, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .default(0)
      .meta({
        description:
          "N > 0 keeps the last N differing value pairs per field in the gateway's memory, truncated, for the /shadow page. 0 keeps counts only.",
      }),
  })
  .meta({ description: 'What the comparison looks at.' });

export const ShadowSchema = z
  .strictObject({
    backend: z.string().min(1).max(253).meta({
      description:
        'The new-service backend of this route that gets the copies, by its name: its Service name, or the host (host:port) of its url.',
    }),
    percent: z
      .number({
        error: (i) => `must be a number between 0 and 100, got ${JSON.stringify(i.input)}`,
      })
      .min(0, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .max(100, { error: (i) => `must be between 0 and 100, got ${String(i.input)}` })
      .meta({
        description:
          'Share (percent, fractions allowed) of the requests the monolith serves that are copied to the backend and compared.',
      }),
    methods: z.array(z.enum(HTTP_METHODS)).max(HTTP_METHODS.length).default(['GET', 'HEAD']).meta({
      description:
        'Methods shadowed. Default GET and HEAD; an unsafe method (POST, PUT, PATCH, DELETE, CONNECT) needs allowSideEffects: true.',
    }),
    allowSideEffects: z.boolean().default(false).meta({
      description:
        'Allow shadowing unsafe methods. The copy carries x-figway-shadow: 1 so the new service can skip its side effects.',
    }),
    maxBodyBytes: quantity(
      `Request and response bodies are compared up to this size (at most ${MAX_SHADOW_BODY}); a larger one skips the comparison, counted as skipped.`,
      '1Mi',
      // Bounded so the CEL rule below fits the API server's cost budget.
    ).meta({ maxLength: 16 }),
    timeout: duration(
      'How long the copies may take, e.g. 2s; a slower one counts as error.',
    ).default('2s'),
    reverse: z.boolean().default(false).meta({
      description:
        'Copy the requests the split sends to the backend to the monolith instead, so comparing goes on after most traffic moved. The backend stays the one judged.',
    }),
    compare: ShadowCompareSchema.prefault({}),
  })
  .superRefine((shadow, ctx) => {
    const bytes = quantityValue(shadow.maxBodyBytes) ?? Number.NaN;
    // At most 16 characters, as the CRD says (its CEL rule needs the bound).
    if (!(bytes >= 1 && bytes <= MAX_SHADOW_BODY_BYTES) || shadow.maxBodyBytes.length > 16) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxBodyBytes'],
        message: `must be between 1 and ${MAX_SHADOW_BODY}, got ${shadow.maxBodyBytes}`,
      });
    }
    if (!shadow.allowSideEffects) {
      shadow.methods.forEach((method, index) => {
        if (!(SAFE_METHODS as readonly string[]).includes(method)) {
          ctx.addIssue({
            code: 'custom',
            path: ['methods', index],
            message: `${method} has side effects: set allowSideEffects: true to shadow it, or remove it`,
          });
        }
      });
    }
  })
  .meta({
    description:
      "Shadow traffic: copies of a share of the route's requests go to the new service as well, and its answers are compared with the monolith's, field by field, without the client ever waiting for or seeing them.",
    'x-kubernetes-validations': [
      {
        rule: "self.allowSideEffects || self.methods.all(m, m in ['GET', 'HEAD', 'OPTIONS', 'TRACE'])",
        message: 'unsafe methods (POST, PUT, PATCH, DELETE, CONNECT) need allowSideEffects: true',
        fieldPath: '.methods',
      },
      {
        rule: `type(self.maxBodyBytes) == int ? self.maxBodyBytes >= 1 && self.maxBodyBytes <= ${MAX_SHADOW_BODY_BYTES} : isQuantity(self.maxBodyBytes) && quantity(self.maxBodyBytes).compareTo(quantity('1')) >= 0 && quantity(self.maxBodyBytes).compareTo(quantity('${MAX_SHADOW_BODY}')) <= 0`,
        message: `maxBodyBytes must be a quantity between 1 and ${MAX_SHADOW_BODY}`,
        fieldPath: '.maxBodyBytes',
      },
    ],
  });

/**
 * The name a new-service backend goes by in metrics, headers and shadow.backend: its
 * Service, or its url's host; undefined for the monolith (route-table.ts's backendName).
 */
export function newServiceName(backend: Backend): string | undefined {
  if (backend.monolith === true) return undefined;
  if (backend.url !== undefined)
    return URL.canParse(backend.url) ? new URL(backend.url).host : undefined;
  return backend.service;
}

/** Where a backend's requests go, to tell two backends of one name apart. */
function backendAddress(backend: Backend): string {
  return backend.url ?? `${String(backend.service)}:${String(backend.port)}`;
}

export const RouteSchema = z
  .strictObject({
    name: dnsLabel('Route name, unique within the ApiRoute; used in metrics and status.'),
    match: MatchSchema,
    backends: z
      .array(BackendSchema)
      .max(MAX_BACKENDS, { error: `must list at most ${MAX_BACKENDS} backends` })
      .default([])
      .meta({
        description:
          'The strangler split between the monolith and the new service. Weights add up to 100. At least one, except with compose (then none).',
        'x-kubernetes-validations': [
          {
            rule: 'self.size() == 0 || self.map(b, b.weight).sum() == 100',
            message: 'backend weights must add up to 100',
          },
        ],
      }),
    cohort: CohortSchema.optional(),
    overrideHeader: headerName(
      'Request header a tester sets to force a side: its value is "monolith", "new" or a backend name. Off unless set.',
    ).optional(),
    fallbackToMonolith: z.boolean().default(false).meta({
      description:
        'When an idempotent request fails on the new service (connect failure, timeout, 502/503/504), serve it from the monolith.',
    }),
    timeout: duration('Upstream timeout for the whole request, e.g. 5s.').default('15s'),
    retries: RetriesSchema.optional(),
    rewrite: RewriteSchema.optional(),
    requestHeaders: headerModifierSchema('Request').optional(),
    responseHeaders: headerModifierSchema('Response').optional(),
    shadow: ShadowSchema.optional(),
    migration: MigrationSchema.optional(),
    auth: AuthSchema.optional(),
    cors: CorsSchema.optional(),
    rateLimit: RateLimitSchema.optional(),
    grpc: GrpcSchema.optional(),
    cache: CacheSchema.optional(),
    compose: ComposeSchema.optional(),
  })
  .superRefine((route, ctx) => {
    composeRouteIssues(route, ctx);
    if (route.migration !== undefined && route.backends.every((b) => b.monolith === true)) {
      ctx.addIssue({
        code: 'custom',
        path: ['migration'],
        message:
          'needs a new-service backend (service and port, or url) in backends to move traffic to',
      });
    }
    const sum = route.backends.reduce((total, b) => total + b.weight, 0);
    if (route.backends.length > 0 && sum !== 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['backends'],
        message: `weights must add up to 100, got ${sum}`,
      });
    }
    if (route.rewrite?.pathPrefix !== undefined && route.match.path.type !== 'PathPrefix') {
      ctx.addIssue({
        code: 'custom',
        path: ['rewrite', 'pathPrefix'],
        message: `needs match.path.type PathPrefix, got ${route.match.path.type}; use fullPath instead`,
      });
    } else if (route.rewrite?.pathPrefix !== undefined && isPathTemplate(route.match.path.value)) {
      ctx.addIssue({
        code: 'custom',
        path: ['rewrite', 'pathPrefix'],
        message:
          'cannot replace a prefix with {name} parameters: match a literal prefix, or use fullPath',
      });
    }
    const shadow = route.shadow;
    if (shadow !== undefined) {
      const names = route.backends.map(newServiceName).filter((n) => n !== undefined);
      if (!names.includes(shadow.backend)) {
        ctx.addIssue({
          code: 'custom',
          path: ['shadow', 'backend'],
          message: `must name a non-monolith backend of this route (${names.length > 0 ? names.map((n) => JSON.stringify(n)).join(', ') : 'it has none: add the new service to backends, weight 0 is fine'}), got ${JSON.stringify(shadow.backend)}`,
        });
      }
    }
    const grpcError = grpcBackendError(
      route.grpc,
      route.backends.map(newServiceName),
      shadow?.backend,
    );
    if (grpcError) ctx.addIssue({ code: 'custom', path: ['grpc', 'backend'], message: grpcError });
    if (route.migration?.analysis.maxShadowMismatchRatio !== undefined && shadow === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['migration', 'analysis', 'maxShadowMismatchRatio'],
        message: 'needs shadow on the route: without it no step has comparisons to judge',
      });
    }
  })
  .meta({
    description: 'A path (or set of requests) being strangled out of the monolith.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.compose) ? !has(self.backends) || size(self.backends) == 0 : has(self.backends) && size(self.backends) > 0',
        message: 'list at least one backend, or compose the answer from parts (then no backends)',
        fieldPath: '.backends',
      },
      {
        rule: '!has(self.migration) || self.backends.exists(b, !has(b.monolith) || !b.monolith)',
        message: 'migration needs a new-service backend (service and port, or url) in backends',
        fieldPath: '.migration',
      },
      {
        // The exact check (a url backend's host, port included) is zod's: string work
        // on urls of 2048 characters exceeds the API server's CEL budget.
        rule: '!has(self.shadow) || self.backends.exists(b, has(b.url) || (has(b.service) && b.service == self.shadow.backend))',
        message:
          'shadow.backend must name a non-monolith backend of this route: its service, or the host of its url',
        fieldPath: '.shadow.backend',
      },
      {
        rule: '!has(self.migration) || !has(self.migration.analysis) || !has(self.migration.analysis.maxShadowMismatchRatio) || has(self.shadow)',
        message: 'migration.analysis.maxShadowMismatchRatio needs shadow on the route',
        fieldPath: '.migration.analysis.maxShadowMismatchRatio',
      },
    ],
  });

export const DefaultsSchema = z
  .strictObject({
    auth: AuthSchema.optional(),
    cors: CorsSchema.optional(),
    rateLimit: RateLimitSchema.optional(),
    cache: CacheSchema.optional(),
  })
  .meta({
    description:
      'Policies for every route that does not set its own (per key: a route with auth, cors, rateLimit or cache replaces that one), and for unmatched traffic on its way to the monolith.',
  });

export const ApiRouteSpecSchema = z
  .strictObject({
    monolith: MonolithSchema,
    gateway: GatewaySpecSchema.prefault({}),
    defaults: DefaultsSchema.optional(),
    routes: z
      .array(RouteSchema)
      .max(MAX_ROUTES, { error: `must list at most ${MAX_ROUTES} routes` })
      .default([])
      .meta({
        description:
          'Routes that move traffic from the monolith to new services. Names are unique.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
  })
  .superRefine((spec, ctx) => {
    const seen = new Map<string, number>();
    spec.routes.forEach((route, index) => {
      const first = seen.get(route.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'name'],
          message: `duplicate route name ${JSON.stringify(route.name)} (also spec.routes[${first}].name); route names must be unique`,
        });
      } else {
        seen.set(route.name, index);
      }
      const claim = route.cohort?.claim;
      if (claim !== undefined && (route.auth ?? spec.defaults?.auth)?.jwt === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'cohort', 'claim'],
          message: `needs a verified JWT on the route: add auth.jwt to the route or to spec.defaults, or key the cohort on a header or cookie instead of the claim ${JSON.stringify(claim)}`,
        });
      }
    });
    checkCacheMemory(spec, ctx);
    composeBackendIssues(spec.routes, ctx, newServiceName, backendAddress);
  })
  .meta({
    description: 'What the gateway of this microservice does.',
    'x-kubernetes-validations': [
      {
        // A route's auth replaces spec.defaults.auth as a whole (auth: {} turns it off).
        rule: '!has(self.routes) || self.routes.all(r, !has(r.cohort) || !has(r.cohort.claim) || (has(r.auth) ? has(r.auth.jwt) : has(self.defaults) && has(self.defaults.auth) && has(self.defaults.auth.jwt)))',
        message:
          'a cohort keyed on a claim needs auth.jwt on its route or in spec.defaults; add one, or key the cohort on a header or cookie',
        fieldPath: '.routes',
      },
    ],
  });

export const ConditionSchema = z
  .object({
    type: z
      .string()
      .max(316)
      .meta({ description: 'Accepted, Ready, Progressing, Degraded or Migrating.' }),
    status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'True, False or Unknown.' }),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The .metadata.generation this condition was set for.' }),
    lastTransitionTime: z
      .string()
      .meta({ description: 'When the condition last changed status.', format: 'date-time' }),
    reason: z.string().max(1024).meta({ description: 'Machine-readable CamelCase reason.' }),
    message: z.string().max(32768).meta({ description: 'Human-readable detail.' }),
  })
  .meta({ description: 'A metav1.Condition.' });

export const MIGRATION_PHASES = [
  'Pending',
  'Progressing',
  'WaitingForTraffic',
  'Paused',
  'Promoted',
  'RolledBack',
] as const;
export const MIGRATION_PAUSE_CAUSES = ['user', 'failure', 'observations'] as const;
export const MIGRATION_VERDICTS = ['pass', 'fail', 'inconclusive'] as const;

export const MigrationAnalysisStatusSchema = z
  .object({
    at: z.string().meta({ description: 'When the step was judged.', format: 'date-time' }),
    requests: z.int().min(0).meta({ description: 'New-service requests in the step.' }),
    newErrorRatio: z
      .number()
      .meta({ description: "The new service's 5xx ratio in the step (fallbacks count as 5xx)." }),
    monolithErrorRatio: z
      .number()
      .meta({ description: "The monolith's 5xx ratio on this route in the step." }),
    latencyRatio: z
      .number()
      .optional()
      .meta({ description: "New-service p99 / the monolith's (with maxLatencyRatio)." }),
    mismatchRatio: z
      .number()
      .optional()
      .meta({ description: 'Shadow mismatch ratio (with maxShadowMismatchRatio).' }),
    verdict: z
      .enum(MIGRATION_VERDICTS)
      .meta({ description: 'pass, fail or inconclusive (waiting for traffic).' }),
    reason: z.string().max(4096).meta({
      description:
        'The verdict with its counts, e.g. "inconclusive: waiting for 40 more requests (60 of minRequests 100 on the new service)".',
    }),
  })
  .meta({ description: 'The latest verdict on the current step.' });

export const MigrationStatusSchema = z
  .object({
    phase: z.enum(MIGRATION_PHASES).meta({
      description: 'Pending, Progressing, WaitingForTraffic, Paused, Promoted or RolledBack.',
    }),
    step: z
      .int()
      .min(0)
      .meta({ description: 'Index of the current step in migration.steps (0-based).' }),
    weight: z.int().min(0).max(100).meta({
      description: 'The new-service weight the route table carries now (the effective weight).',
    }),
    since: z.string().meta({
      description: 'When the current step began: the start of the window it is judged on.',
      format: 'date-time',
    }),
    checkedAt: z
      .string()
      .optional()
      .meta({ description: 'When observations were last read.', format: 'date-time' }),
    pausedBy: z
      .enum(MIGRATION_PAUSE_CAUSES)
      .optional()
      .meta({ description: 'Paused: by a user, by a failed step, or by missing observations.' }),
    message: z.string().max(4096).meta({ description: 'Where the migration is and why.' }),
    lastAnalysis: MigrationAnalysisStatusSchema.optional(),
    plan: z
      .object({
        steps: z.array(z.int()).meta({ description: 'The steps this state was computed for.' }),
        newBackends: z
          .array(z.string())
          .meta({ description: 'The new-service backends this state was computed for.' }),
      })
      .meta({ description: 'What the state was computed for, to detect edits of the plan.' }),
    command: z.string().max(256).optional().meta({
      description: 'The last `figway migration` command applied (the annotation value).',
    }),
  })
  .meta({ description: 'Migration autopilot state of the route; the operator resumes from it.' });

export const ApiRouteStatusSchema = z
  .object({
    observedGeneration: z
      .int()
      .optional()
      .meta({ description: 'The .metadata.generation the operator last acted on.' }),
    conditions: z
      .array(ConditionSchema)
      .optional()
      .meta({
        description:
          'Accepted, Ready, Progressing and Degraded; Migrating on an ApiRoute with a migration (True while the autopilot moves traffic).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    gateway: z
      .object({
        service: z.string().optional().meta({ description: 'Service of the dedicated gateway.' }),
        readyReplicas: z.int().optional().meta({ description: 'Gateway pods ready.' }),
        configHash: z
          .string()
          .optional()
          .meta({ description: 'Hash of the route table the gateway should serve.' }),
      })
      .optional()
      .meta({ description: 'The dedicated gateway.' }),
    routes: z
      .array(
        z
          .object({
            name: z.string().meta({ description: 'Route name.' }),
            newServicePercent: z.int().meta({
              description:
                'Share of traffic for the new service in the route table (with a migration: its effective weight).',
            }),
            migration: MigrationStatusSchema.optional(),
            shadow: z
              .object({
                requests: z.int().meta({
                  description:
                    "Shadowed requests compared with the monolith's answer, summed over the gateway pods (as their counters stand: a pod restart starts its own from 0).",
                }),
                mismatchRatio: z.number().meta({
                  description:
                    'Share of those comparisons with a real difference (noise-cancelled when compare.noiseCancellation is on), 0 to 1.',
                }),
                topFields: z.array(z.string()).max(5).meta({
                  description:
                    'The fields most often really different, most frequent first: JSON paths with array indices as [*], status, headers.NAME or body. The gateway admin port /shadow has them all, with samples.',
                }),
              })
              .optional()
              .meta({
                description:
                  "How the new service's answers compare with the monolith's (spec.routes[].shadow), read from Prometheus at a bounded rate; absent without the operator's --prometheus-url.",
              }),
          })
          .meta({ description: 'Migration progress of one route.' }),
      )
      .optional()
      .meta({ description: 'Migration progress per route.' }),
    newServicePercent: z.int().optional().meta({
      description: 'Average configured new-service share over all routes (for kubectl get).',
    }),
    routeCount: z.int().optional().meta({ description: 'Number of routes (for kubectl get).' }),
    monolith: z.string().optional().meta({
      description: 'Where unmatched traffic goes: service:port or URL (for kubectl get).',
    }),
  })
  .meta({ description: 'What the operator observed and did.' });

/** Kubernetes' namespace for an object without one (e.g. an ApiRoute file run locally). */
export const DEFAULT_NAMESPACE = 'default';

export const ObjectMetaSchema = z
  .looseObject({
    // As the API server checks every object's name and namespace (DNS-1123).
    name: dnsSubdomain('Object name.'),
    namespace: dnsLabel('Object namespace.').optional(),
    generation: z.int().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .meta({ description: 'Standard object metadata.' });

export const ApiRouteSchema = z
  .object({
    apiVersion: z.literal(API_VERSION, {
      error: (i) => `must be ${API_VERSION}, got ${JSON.stringify(i.input)}`,
    }),
    kind: z.literal(KIND, { error: (i) => `must be ${KIND}, got ${JSON.stringify(i.input)}` }),
    metadata: ObjectMetaSchema,
    spec: ApiRouteSpecSchema,
    status: ApiRouteStatusSchema.optional(),
  })
  .meta({
    description:
      'ApiRoute: a dedicated API gateway for one microservice that moves traffic from the monolith to the new service path by path and percentage by percentage.',
  });

/** A validated ApiRoute with every default applied. */
export type ApiRoute = z.output<typeof ApiRouteSchema>;
/** An ApiRoute as users write it (defaults optional). */
export type ApiRouteInput = z.input<typeof ApiRouteSchema>;
export type ApiRouteSpec = ApiRoute['spec'];
export type ApiRouteStatus = z.output<typeof ApiRouteStatusSchema>;
export type Route = ApiRouteSpec['routes'][number];
export type Backend = Route['backends'][number];
export type Monolith = ApiRouteSpec['monolith'];
export type Condition = z.output<typeof ConditionSchema>;
export type Migration = NonNullable<Route['migration']>;
export type Shadow = NonNullable<Route['shadow']>;
export type RateLimit = NonNullable<Route['rateLimit']>;
export type RouteMigrationStatus = z.output<typeof MigrationStatusSchema>;
