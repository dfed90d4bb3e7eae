import { describe, expect, it } from '@jest/globals';
import {
  durationToMs,
  formatPath,
  validateApiRoute,
  type ApiRouteInput,
} from '../../../src/api/index.js';

function base(): ApiRouteInput {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy-shop', port: 8080 },
      routes: [
        {
          name: 'orders-api',
          match: { path: { type: 'PathPrefix', value: '/api/orders' } },
          backends: [
            { service: 'orders', port: 80, weight: 25 },
            { monolith: true, weight: 75 },
          ],
        },
      ],
    },
  };
}

/** A deep copy of the base ApiRoute with one change applied. */
function variant(change: (route: any) => void): unknown {
  const copy = structuredClone(base()) as any;
  change(copy);
  return copy;
}

function errorsOf(input: unknown): string[] {
  const result = validateApiRoute(input);
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('validateApiRoute', () => {
  it('accepts a minimal ApiRoute and applies every default in one place', () => {
    const result = validateApiRoute(base());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const route = result.value.spec.routes[0]!;
    expect(result.value.spec.gateway).toEqual({
      logLevel: 'info',
      backendHeader: 'x-figway-backend',
      trustedProxies: [],
    });
    expect(route.timeout).toBe('15s');
    expect(route.fallbackToMonolith).toBe(false);
  });

  it('fills in a migration plan from its steps alone', () => {
    const result = validateApiRoute(
      variant((r) => (r.spec.routes[0].migration = { steps: [5, 100] })),
    );
    expect(result.ok && result.value.spec.routes[0]?.migration).toEqual({
      steps: [5, 100],
      interval: '5m',
      analysis: { maxErrorRatioIncrease: 0.01, confidence: 0.95, minRequests: 100 },
      onFailure: 'Rollback',
    });
  });

  it('accepts a monolith outside the cluster by URL', () => {
    expect(
      errorsOf(variant((r) => (r.spec.monolith = { url: 'https://legacy.example.com' }))),
    ).toEqual([]);
  });

  it('accepts trusted proxies as IPv4 and IPv6 CIDRs and single addresses', () => {
    const trustedProxies = ['10.0.0.0/8', 'fd00::/8', '192.168.1.7', '::1', '0.0.0.0/0'];
    const result = validateApiRoute(variant((r) => (r.spec.gateway = { trustedProxies })));
    expect(result.ok && result.value.spec.gateway.trustedProxies).toEqual(trustedProxies);
  });

  it('accepts retry conditions written as YAML numbers', () => {
    const input = variant(
      (r) =>
        (r.spec.routes[0].retries = { attempts: 2, conditions: ['connect-failure', 502, 504] }),
    );
    const result = validateApiRoute(input);
    expect(result.ok && result.value.spec.routes[0]!.retries!.conditions).toEqual([
      'connect-failure',
      '502',
      '504',
    ]);
  });

  it('accepts RE2 syntax in path, header and query matches', () => {
    const input = variant((r) => {
      r.spec.routes[0].match = {
        path: { type: 'RegularExpression', value: '/api/v[0-9]+/(?P<kind>orders|carts)/\\d+' },
        headers: [
          { name: 'user-agent', type: 'RegularExpression', value: '(?i).*chrome/[0-9.]+.*' },
        ],
        query: [{ name: 'q', type: 'RegularExpression', value: '\\pL+' }],
      };
    });
    expect(errorsOf(input)).toEqual([]);
  });

  it('checks the syntax of RegularExpression values only', () => {
    const input = variant((r) => {
      r.spec.routes[0].match.headers = [{ name: 'x-tenant', value: '(?=beta' }];
    });
    expect(errorsOf(input)).toEqual([]);
  });

  it('accepts a shadow with its defaults, and names a url backend by its host', () => {
    const result = validateApiRoute(
      variant((r) => (r.spec.routes[0].shadow = { backend: 'orders', percent: 12.5 })),
    );
    expect(result.ok && result.value.spec.routes[0]!.shadow).toEqual({
      backend: 'orders',
      percent: 12.5,
      methods: ['GET', 'HEAD'],
      allowSideEffects: false,
      maxBodyBytes: '1Mi',
      timeout: '2s',
      reverse: false,
      compare: { headers: ['content-type'], ignore: [], noiseCancellation: false, keepSamples: 0 },
    });
    expect(
      errorsOf(
        variant((r) => {
          r.spec.routes[0].backends[0] = { url: 'http://orders.example:8080/v2', weight: 0 };
          r.spec.routes[0].backends[1].weight = 100;
          r.spec.routes[0].shadow = {
            backend: 'orders.example:8080',
            percent: 100,
            methods: ['GET', 'POST'],
            allowSideEffects: true,
            compare: { ignore: ['$', '$.a.b', "$['x-y'][*].z", '$..updatedAt', '$.*'] },
          };
        }),
      ),
    ).toEqual([]);
  });

  const shadow = (r: any, fields: Record<string, unknown>) =>
    (r.spec.routes[0].shadow = { backend: 'orders', percent: 10, ...fields });

  const bad: [string, (r: any) => void, string][] = [
    [
      'a shadow backend the route lacks',
      (r) => shadow(r, { backend: 'payments' }),
      'spec.routes[0].shadow.backend: must name a non-monolith backend of this route ("orders"), got "payments"',
    ],
    [
      'the monolith as the shadow backend',
      (r) => shadow(r, { backend: 'monolith' }),
      'spec.routes[0].shadow.backend: must name a non-monolith backend of this route',
    ],
    [
      'a shadow percent above 100',
      (r) => shadow(r, { percent: 100.5 }),
      'spec.routes[0].shadow.percent: must be between 0 and 100, got 100.5',
    ],
    [
      'a negative shadow percent',
      (r) => shadow(r, { percent: -1 }),
      'spec.routes[0].shadow.percent: must be between 0 and 100, got -1',
    ],
    [
      'an unsafe shadow method without allowSideEffects',
      (r) => shadow(r, { methods: ['GET', 'POST'] }),
      'spec.routes[0].shadow.methods[1]: POST has side effects: set allowSideEffects: true to shadow it, or remove it',
    ],
    [
      'a shadow body limit over 16Mi',
      (r) => shadow(r, { maxBodyBytes: '32Mi' }),
      'spec.routes[0].shadow.maxBodyBytes: must be between 1 and 16Mi, got 32Mi',
    ],
    [
      'an array index in an ignore path',
      (r) => shadow(r, { compare: { ignore: ['$.items[0].id'] } }),
      'spec.routes[0].shadow.compare.ignore[0]: is not a supported JSON path at character 8 of "$.items[0].id": array indices are grouped as [*] in comparisons: use [*]',
    ],
    [
      'an ignore path without $',
      (r) => shadow(r, { compare: { ignore: ['timestamp'] } }),
      `spec.routes[0].shadow.compare.ignore[0]: is not a supported JSON path at character 1 of "timestamp": must start with '$'`,
    ],
    [
      'a shadow mismatch gate on a route without shadow',
      (r) =>
        (r.spec.routes[0].migration = {
          steps: [5, 100],
          analysis: { maxShadowMismatchRatio: 0.001 },
        }),
      'spec.routes[0].migration.analysis.maxShadowMismatchRatio: needs shadow on the route',
    ],
    [
      'keepSamples above 100',
      (r) => shadow(r, { compare: { keepSamples: 1000 } }),
      'spec.routes[0].shadow.compare.keepSamples: must be between 0 and 100, got 1000',
    ],
    [
      'weight above 100',
      (r) => (r.spec.routes[0].backends[0].weight = 150),
      'spec.routes[0].backends[0].weight: must be between 0 and 100, got 150',
    ],
    [
      'negative weight',
      (r) => (r.spec.routes[0].backends[0].weight = -1),
      'spec.routes[0].backends[0].weight: must be between 0 and 100, got -1',
    ],
    [
      'weights not adding up',
      (r) => (r.spec.routes[0].backends[1].weight = 70),
      'spec.routes[0].backends: weights must add up to 100, got 95',
    ],
    [
      'no backends',
      (r) => (r.spec.routes[0].backends = []),
      'spec.routes[0].backends: must list at least one backend',
    ],
    [
      'a backend of two kinds',
      (r) => (r.spec.routes[0].backends[1].url = 'http://x'),
      'spec.routes[0].backends[1]: set exactly one of {service, port}, {url} or {monolith: true}, got several',
    ],
    [
      'a backend of no kind',
      (r) => (r.spec.routes[0].backends[1] = { weight: 75 }),
      'spec.routes[0].backends[1]: set exactly one of {service, port}, {url} or {monolith: true}, got none',
    ],
    [
      'service without port',
      (r) => delete r.spec.routes[0].backends[0].port,
      'spec.routes[0].backends[0].port: service and port go together: set both',
    ],
    [
      'port out of range',
      (r) => (r.spec.monolith.port = 70000),
      'spec.monolith.port: must be between 1 and 65535, got 70000',
    ],
    [
      'port zero',
      (r) => (r.spec.routes[0].backends[0].port = 0),
      'spec.routes[0].backends[0].port: must be between 1 and 65535, got 0',
    ],
    [
      'monolith by URL and service',
      (r) => (r.spec.monolith.url = 'https://x.example'),
      'spec.monolith: set either url or service and port, not both',
    ],
    ['no monolith', (r) => delete r.spec.monolith, 'spec.monolith: is required (object)'],
    [
      'monolith URL not http',
      (r) => (r.spec.monolith = { url: 'ftp://legacy' }),
      'spec.monolith.url: must be an absolute http:// or https:// URL, got "ftp://legacy"',
    ],
    [
      'duplicate route names',
      (r) => r.spec.routes.push(structuredClone(r.spec.routes[0])),
      'spec.routes[1].name: duplicate route name "orders-api" (also spec.routes[0].name); route names must be unique',
    ],
    [
      'route name not a DNS label',
      (r) => (r.spec.routes[0].name = 'Orders_API'),
      'spec.routes[0].name: must be a DNS-1123 label',
    ],
    [
      'service name too long',
      (r) => (r.spec.routes[0].backends[0].service = 'a'.repeat(64)),
      'spec.routes[0].backends[0].service: must be at most 63 characters, got 64',
    ],
    [
      'unknown path match type',
      (r) => (r.spec.routes[0].match.path.type = 'Prefix'),
      'spec.routes[0].match.path.type: must be one of Exact, PathPrefix, RegularExpression, got string "Prefix"',
    ],
    [
      'path without leading slash',
      (r) => (r.spec.routes[0].match.path.value = 'api'),
      "spec.routes[0].match.path.value: must start with '/' for type PathPrefix",
    ],
    [
      'regex that does not compile',
      (r) => (r.spec.routes[0].match.path = { type: 'RegularExpression', value: '/api/(orders' }),
      'spec.routes[0].match.path.value: is not a valid RE2 regular expression: missing closing ): `/api/(orders`',
    ],
    [
      'header regex that does not compile',
      (r) =>
        (r.spec.routes[0].match.headers = [
          { name: 'x-tenant', type: 'RegularExpression', value: '[' },
        ]),
      'spec.routes[0].match.headers[0].value: is not a valid RE2 regular expression: missing closing ]',
    ],
    [
      'path regex with lookahead (RE2 cannot run it in linear time)',
      (r) =>
        (r.spec.routes[0].match.path = { type: 'RegularExpression', value: '/api/(?!internal).*' }),
      'spec.routes[0].match.path.value: uses lookahead ((?= or (?!), which RE2 does not support; match the text itself, or let a more specific Exact or PathPrefix route claim the exception',
    ],
    [
      'header regex with lookbehind',
      (r) =>
        (r.spec.routes[0].match.headers = [
          { name: 'x-a', value: 'ok' },
          { name: 'x-tenant', type: 'RegularExpression', value: '.*(?<!-test)' },
        ]),
      'spec.routes[0].match.headers[1].value: uses lookbehind ((?<= or (?<!), which RE2 does not support',
    ],
    [
      'query regex with a backreference',
      (r) =>
        (r.spec.routes[0].match.query = [
          { name: 'pair', type: 'RegularExpression', value: '([a-z]+)-\\1' },
        ]),
      'spec.routes[0].match.query[0].value: uses a backreference (\\1 or \\k<name>), which RE2 does not support; spell the repeated text out',
    ],
    [
      'query regex with a named backreference',
      (r) =>
        (r.spec.routes[0].match.query = [
          { name: 'pair', type: 'RegularExpression', value: '(?<w>[a-z]+)-\\k<w>' },
        ]),
      'spec.routes[0].match.query[0].value: uses a backreference',
    ],
    [
      'JavaScript-only syntax',
      (r) => (r.spec.routes[0].match.path = { type: 'RegularExpression', value: '/caf\\u00e9' }),
      'spec.routes[0].match.path.value: is not a valid RE2 regular expression: invalid escape sequence: `\\u`',
    ],
    [
      'regex too complex to match quickly',
      (r) =>
        (r.spec.routes[0].match.path = {
          type: 'RegularExpression',
          value: '((a|b|/){0,30}){0,30}z',
        }),
      'spec.routes[0].match.path.value: is too complex: its RE2 program size is 3693, at most 500 is allowed',
    ],
    [
      'regex too long',
      (r) => (r.spec.routes[0].match.headers = [{ name: 'x-a', value: 'a'.repeat(1025) }]),
      'spec.routes[0].match.headers[0].value: must be at most 1024 characters, got 1025',
    ],
    [
      'bad duration',
      (r) => (r.spec.routes[0].timeout = '5 seconds'),
      'spec.routes[0].timeout: must be a duration such as 250ms, 5s, 2m, 1m30s or 1h (Gateway API duration: up to four parts of 1-5 digits and h, m, s or ms), got "5 seconds"',
    ],
    [
      'duration with six digits (GEP-2257 allows five)',
      (r) => (r.spec.routes[0].timeout = '100000ms'),
      'spec.routes[0].timeout: must be a duration',
    ],
    [
      'duration of five parts (GEP-2257 allows four)',
      (r) => (r.spec.routes[0].timeout = '1h1m1s1ms1s'),
      'spec.routes[0].timeout: must be a duration',
    ],
    [
      'name the API server refuses (DNS-1123 subdomain)',
      (r) => (r.metadata.name = 'Orders_1'),
      "metadata.name: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got \"Orders_1\"",
    ],
    [
      'namespace the API server refuses (DNS-1123 label)',
      (r) => (r.metadata.namespace = 'shop.eu'),
      'metadata.namespace: must be a DNS-1123 label',
    ],
    [
      'bad per-try timeout',
      (r) => (r.spec.routes[0].retries = { perTryTimeout: '1.5s' }),
      'spec.routes[0].retries.perTryTimeout: must be a duration',
    ],
    [
      'unknown retry condition',
      (r) => (r.spec.routes[0].retries = { conditions: [500] }),
      'spec.routes[0].retries.conditions[0]: must be one of connect-failure, 502, 503, 504, got "500"',
    ],
    [
      'too many retries',
      (r) => (r.spec.routes[0].retries = { attempts: 9 }),
      'spec.routes[0].retries.attempts: must be between 0 and 5, got 9',
    ],
    [
      'cohort with two keys',
      (r) => (r.spec.routes[0].cohort = { header: 'x-user-id', cookie: 'session' }),
      'spec.routes[0].cohort: set exactly one of header, cookie, claim or clientIp: true',
    ],
    [
      'invalid header name',
      (r) => (r.spec.routes[0].overrideHeader = 'x force'),
      'spec.routes[0].overrideHeader: must be a valid HTTP header name',
    ],
    [
      'invalid header to set',
      (r) => (r.spec.routes[0].requestHeaders = { set: { 'bad header': 'x' } }),
      'spec.routes[0].requestHeaders.set["bad header"]: is not a valid HTTP header name',
    ],
    [
      'both rewrites',
      (r) => (r.spec.routes[0].rewrite = { pathPrefix: '/a', fullPath: '/b' }),
      'spec.routes[0].rewrite: set pathPrefix or fullPath, not both',
    ],
    [
      'prefix rewrite on an exact match',
      (r) => {
        r.spec.routes[0].match.path.type = 'Exact';
        r.spec.routes[0].rewrite = { pathPrefix: '/o' };
      },
      'spec.routes[0].rewrite.pathPrefix: needs match.path.type PathPrefix, got Exact; use fullPath instead',
    ],
    [
      'a brace inside a segment',
      (r) => (r.spec.routes[0].match.path.value = '/api/orders-{id}'),
      'spec.routes[0].match.path.value: has "orders-{id}": a path parameter is a whole segment {name}',
    ],
    [
      'a parameter name that is not an identifier',
      (r) => (r.spec.routes[0].match.path.value = '/api/{order-id}'),
      'spec.routes[0].match.path.value: has parameter {order-id}: a name is a letter or _',
    ],
    [
      'a parameter named twice',
      (r) => (r.spec.routes[0].match.path.value = '/api/{id}/x/{id}'),
      'spec.routes[0].match.path.value: names parameter {id} twice: names must be unique',
    ],
    [
      'a prefix rewrite of a templated prefix',
      (r) => {
        r.spec.routes[0].match.path.value = '/api/{tenant}/orders';
        r.spec.routes[0].rewrite = { pathPrefix: '/o' };
      },
      'spec.routes[0].rewrite.pathPrefix: cannot replace a prefix with {name} parameters',
    ],
    [
      'a misspelt field',
      (r) => (r.spec.routes[0].fallbackToMonolit = true),
      'spec.routes[0]: unknown field "fallbackToMonolit": check the spelling',
    ],
    [
      'replicas out of range',
      (r) => (r.spec.gateway = { replicas: 51 }),
      'spec.gateway.replicas: must be between 0 and 50, got 51',
    ],
    [
      'bad quantity',
      (r) => (r.spec.gateway = { resources: { requests: { cpu: 'lots' } } }),
      'spec.gateway.resources.requests.cpu: must be a Kubernetes quantity such as 100m or 128Mi, got "lots"',
    ],
    [
      'a quantity Kubernetes would refuse (the API server would reject the Deployment later)',
      (r) => (r.spec.gateway = { resources: { limits: { memory: '1.2.3Gi' } } }),
      'spec.gateway.resources.limits.memory: must be a Kubernetes quantity such as 100m or 128Mi, got "1.2.3Gi"',
    ],
    [
      'a trusted proxy prefix longer than the address',
      (r) => (r.spec.gateway = { trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] }),
      'spec.gateway.trustedProxies[1]: "10.0.0.0/33" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8',
    ],
    [
      'a trusted proxy that is a host name',
      (r) => (r.spec.gateway = { trustedProxies: ['lb.example.com'] }),
      'spec.gateway.trustedProxies[0]: "lb.example.com" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8',
    ],
    [
      'a trusted proxy range with host bits set',
      (r) => (r.spec.gateway = { trustedProxies: ['10.1.2.3/8'] }),
      'spec.gateway.trustedProxies[0]: "10.1.2.3/8" has bits set after the /8 prefix; use 10.0.0.0/8, or 10.1.2.3/32 for the one address',
    ],
    [
      'an IPv6 trusted proxy range with host bits set',
      (r) => (r.spec.gateway = { trustedProxies: ['2001:db8::1/32'] }),
      'spec.gateway.trustedProxies[0]: "2001:db8::1/32" has bits set after the /32 prefix; use 2001:db8::/32, or 2001:db8::1/128 for the one address',
    ],
    [
      'an IPv4-mapped IPv6 trusted proxy range',
      (r) => (r.spec.gateway = { trustedProxies: ['::ffff:10.0.0.0/104'] }),
      'spec.gateway.trustedProxies[0]: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 range; write the IPv4 range instead, e.g. 10.0.0.0/8',
    ],
    [
      'a trusted proxy longer than any CIDR',
      (r) => (r.spec.gateway = { trustedProxies: ['1'.repeat(50)] }),
      `spec.gateway.trustedProxies[0]: "${'1'.repeat(50)}" is not a CIDR: longer than 49 characters`,
    ],
    [
      'too many trusted proxies',
      (r) =>
        (r.spec.gateway = {
          trustedProxies: Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`),
        }),
      'spec.gateway.trustedProxies: must list at most 64 ranges; cover them with wider CIDRs',
    ],
    [
      'CORS origin * with credentials (the Fetch standard forbids it)',
      (r) => (r.spec.routes[0].cors = { allowOrigins: ['*'], allowCredentials: true }),
      'spec.routes[0].cors.allowOrigins[0]: cannot be * with allowCredentials: true',
    ],
    [
      'a CORS origin with a path',
      (r) => (r.spec.routes[0].cors = { allowOrigins: ['https://shop.example.com/'] }),
      'spec.routes[0].cors.allowOrigins[0]: must be an origin such as https://shop.example.com',
    ],
    [
      'no CORS origins',
      (r) => (r.spec.routes[0].cors = { allowOrigins: [] }),
      'spec.routes[0].cors.allowOrigins: must list at least one origin',
    ],
    [
      'wrong apiVersion',
      (r) => (r.apiVersion = 'figway.dev/v1'),
      'apiVersion: must be figway.dev/v1alpha1, got "figway.dev/v1"',
    ],
    ['wrong kind', (r) => (r.kind = 'Route'), 'kind: must be ApiRoute, got "Route"'],
    [
      'unknown method',
      (r) => (r.spec.routes[0].match.methods = ['FETCH']),
      'spec.routes[0].match.methods[0]: must be one of GET, HEAD',
    ],
    [
      'migration steps not ascending',
      (r) => (r.spec.routes[0].migration = { steps: [5, 50, 25, 100] }),
      'spec.routes[0].migration.steps[2]: must be above the step before it (50): steps are strictly ascending, got 25',
    ],
    [
      'a migration step above 100',
      (r) => (r.spec.routes[0].migration = { steps: [5, 150] }),
      'spec.routes[0].migration.steps[1]: must be between 1 and 100 (percent), got 150',
    ],
    [
      'a migration step of 0',
      (r) => (r.spec.routes[0].migration = { steps: [0, 100] }),
      'spec.routes[0].migration.steps[0]: must be between 1 and 100 (percent), got 0',
    ],
    [
      'a migration of one step',
      (r) => (r.spec.routes[0].migration = { steps: [100] }),
      'spec.routes[0].migration.steps: must list at least two steps',
    ],
    [
      'a migration interval too short to judge',
      (r) => (r.spec.routes[0].migration = { steps: [5, 100], interval: '2s' }),
      'spec.routes[0].migration.interval: must be at least 10s: a shorter step spans too few Prometheus scrapes to be judged, got "2s"',
    ],
    [
      'a migration on a route with only the monolith',
      (r) => {
        r.spec.routes[0].backends = [{ monolith: true, weight: 100 }];
        r.spec.routes[0].migration = { steps: [5, 100] };
      },
      'spec.routes[0].migration: needs a new-service backend (service and port, or url) in backends to move traffic to',
    ],
    [
      'a confidence of 1',
      (r) => (r.spec.routes[0].migration = { steps: [5, 100], analysis: { confidence: 1 } }),
      'spec.routes[0].migration.analysis.confidence: must be between 0.5 and 0.9999, got 1',
    ],
    [
      'an unknown failure action',
      (r) => (r.spec.routes[0].migration = { steps: [5, 100], onFailure: 'Retry' }),
      'spec.routes[0].migration.onFailure: must be one of Rollback, Pause, got string "Retry"',
    ],
    [
      'weight not an integer',
      (r) => (r.spec.routes[0].backends[0].weight = '25'),
      'spec.routes[0].backends[0].weight: must be a number, got string "25"',
    ],
  ];

  it.each(bad)('rejects %s with the field path and the fix', (_name, change, expected) => {
    const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(errorsOf(variant(change))).toContainEqual(
      expect.stringMatching(new RegExp(`^${escaped}`)),
    );
  });

  it('reports every error at once, not just the first', () => {
    const errors = errorsOf(
      variant((r) => {
        r.spec.routes[0].backends[0].weight = 150;
        r.spec.routes[0].timeout = 'soon';
        r.spec.monolith.port = 0;
      }),
    );
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  it('reads durations in the Gateway API grammar (GEP-2257), as Go and CEL do', () => {
    const result = validateApiRoute(
      variant((r) => {
        r.spec.routes[0].timeout = '1m30s';
        r.spec.routes[0].retries = { perTryTimeout: '800ms' };
      }),
    );
    expect(result.ok).toBe(true);
    expect(durationToMs('1m30s')).toBe(90_000);
    expect(durationToMs('1h2m3s4ms')).toBe(3_723_004);
    expect(durationToMs('800ms')).toBe(800);
    expect(durationToMs('10m')).toBe(600_000);
    expect(() => durationToMs('1.5s')).toThrow('invalid duration "1.5s"');
  });

  it('rejects non-objects without throwing', () => {
    for (const input of [null, undefined, 42, 'ApiRoute', [], true]) {
      expect(validateApiRoute(input).ok).toBe(false);
    }
  });
});

describe('formatPath', () => {
  it('writes paths the way users read them', () => {
    expect(formatPath(['spec', 'routes', 2, 'backends', 0, 'weight'])).toBe(
      'spec.routes[2].backends[0].weight',
    );
    expect(formatPath(['spec', 'set', 'x-b c'])).toBe('spec.set["x-b c"]');
    expect(formatPath([])).toBe('(root)');
  });
});
