// The compiled route table: the contract between the operator and the gateway. The
// operator writes it into the gateway's ConfigMap; the gateway reads it (from there, or
// compiles it itself from an ApiRoute file for local runs). It is plain JSON: every
// default applied, every duration in milliseconds, every backend resolved to a URL, and
// the hash of all that, so reader and writer name a config by the same hash.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LOG_LEVELS } from '../common/log-level.js';
import { durationToMs } from './fields.js';
import { parseCidr } from './ip.js';
import {
  DEFAULT_NAMESPACE,
  HTTP_METHODS,
  PATH_MATCH_TYPES,
  RETRY_CONDITIONS,
  VALUE_MATCH_TYPES,
  type ApiRoute,
  type ApiRouteSpec,
  type Backend,
  type Route,
} from './schema.js';

export const ROUTE_TABLE_VERSION = 1;
/** The backend name the monolith always has, in the table and in metrics. */
export const MONOLITH_BACKEND = 'monolith';
/** ConfigMap key under which the operator stores the route table. */
export const ROUTE_TABLE_KEY = 'routes.json';

const ValueMatchSchema = z.object({
  name: z.string(),
  type: z.enum(VALUE_MATCH_TYPES),
  value: z.string(),
});

const HeaderModifierSchema = z.object({
  set: z.record(z.string(), z.string()),
  add: z.record(z.string(), z.string()),
  remove: z.array(z.string()),
});

/**
 * An apiKey policy as the gateway runs it: the header (lower-cased) and the Secret the keys
 * come from. Only the Secret's name is here: the keys never enter the route table.
 */
const CompiledApiKeySchema = z.object({ header: z.string(), secretName: z.string() });

/** The policies spec.defaults gives unmatched traffic (and every route that sets none). */
const CompiledDefaultsSchema = z.object({ apiKey: CompiledApiKeySchema.optional() });

export const CompiledBackendSchema = z.object({
  /** Label value in metrics and the backend response header: "monolith", a Service name, or a URL host. */
  name: z.string(),
  /** Base URL requests are sent to. */
  url: z.string(),
  /** The Service this URL was resolved from, so a local run can override it (--resolve). */
  service: z.string().optional(),
  weight: z.number(),
  monolith: z.boolean(),
});

export const CompiledRouteSchema = z.object({
  name: z.string(),
  match: z.object({
    path: z.object({ type: z.enum(PATH_MATCH_TYPES), value: z.string() }),
    /** Empty: every method. */
    methods: z.array(z.enum(HTTP_METHODS)),
    /** Header names lower-cased, as Node presents them. */
    headers: z.array(ValueMatchSchema),
    query: z.array(ValueMatchSchema),
  }),
  backends: z.array(CompiledBackendSchema),
  /** Sum of the non-monolith weights: the migration progress of this route. */
  newServicePercent: z.number(),
  cohort: z
    .union([
      z.object({ header: z.string() }),
      z.object({ cookie: z.string() }),
      z.object({ clientIp: z.literal(true) }),
    ])
    .optional(),
  overrideHeader: z.string().optional(),
  fallbackToMonolith: z.boolean(),
  timeoutMs: z.number(),
  retries: z.object({
    attempts: z.number(),
    perTryTimeoutMs: z.number(),
    on: z.array(z.enum(RETRY_CONDITIONS)),
  }),
  rewrite: z
    .union([z.object({ pathPrefix: z.string() }), z.object({ fullPath: z.string() })])
    .optional(),
  requestHeaders: HeaderModifierSchema.optional(),
  responseHeaders: HeaderModifierSchema.optional(),
  apiKey: CompiledApiKeySchema.optional(),
});

export const RouteTableSchema = z.object({
  version: z.literal(ROUTE_TABLE_VERSION),
  /**
   * routeTableHash of the rest of the table, computed by its writer (the operator, or
   * compileRouteTable for a local file) and served by the gateway as it is: the parsed
   * copy drops fields a newer operator may add, so a hash recomputed from it would
   * disagree with the operator's status.configHash.
   */
  hash: z.string().min(1),
  /** The ApiRoute this table was compiled from. */
  source: z.object({ namespace: z.string(), name: z.string(), generation: z.number().optional() }),
  monolith: CompiledBackendSchema,
  backendHeader: z.string(),
  logLevel: z.enum(LOG_LEVELS),
  /** Peers whose X-Forwarded-* headers the gateway believes: CIDRs or single addresses. */
  trustedProxies: z
    .array(
      z.string().superRefine((value, ctx) => {
        const parsed = parseCidr(value);
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
      }),
    )
    .default([]),
  accessLog: z
    .object({ sampleRatio: z.number(), alwaysLogErrors: z.boolean(), redactQuery: z.boolean() })
    .optional(),
  /** Absent when spec.defaults sets no policy. */
  defaults: CompiledDefaultsSchema.optional(),
  routes: z.array(CompiledRouteSchema),
});

export type RouteTable = z.output<typeof RouteTableSchema>;
/** A table before its hash is added: what routeTableHash is computed over. */
export type RouteTableContent = Omit<RouteTable, 'hash'>;
export type CompiledRoute = z.output<typeof CompiledRouteSchema>;
export type CompiledBackend = z.output<typeof CompiledBackendSchema>;
export type CompiledApiKey = z.output<typeof CompiledApiKeySchema>;
export type CompiledDefaults = z.output<typeof CompiledDefaultsSchema>;

export type CompiledAccessLog = NonNullable<z.output<typeof RouteTableSchema>['accessLog']>;

export interface CompileOptions {
  /** Access log settings for ApiRoutes that set none (the operator's chart-wide default). */
  defaultAccessLog?: CompiledAccessLog;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** In-cluster DNS name of a Service port; a local run overrides it with --resolve. */
function serviceUrl(service: string, port: number, namespace: string): string {
  return `http://${service}.${namespace}.svc:${port}`;
}

function compileBackend(
  backend: Backend,
  monolith: CompiledBackend,
  namespace: string,
): CompiledBackend {
  if (backend.monolith === true) return { ...monolith, weight: backend.weight };
  if (backend.url !== undefined) {
    return {
      name: new URL(backend.url).host,
      url: trimSlash(backend.url),
      weight: backend.weight,
      monolith: false,
    };
  }
  // The schema guarantees service and port are set together here.
  const service = backend.service as string;
  const port = backend.port as number;
  return {
    name: service,
    url: serviceUrl(service, port, namespace),
    service,
    weight: backend.weight,
    monolith: false,
  };
}

type Auth = NonNullable<Route['auth']>;

function compileApiKey(apiKey: NonNullable<Auth['apiKey']>): CompiledApiKey {
  return { header: apiKey.header.toLowerCase(), secretName: apiKey.secretRef.name };
}

function compileDefaults(defaults: ApiRouteSpec['defaults']): CompiledDefaults | undefined {
  const apiKey = defaults?.auth?.apiKey;
  return apiKey !== undefined ? { apiKey: compileApiKey(apiKey) } : undefined;
}

function compileRoute(
  route: Route,
  monolith: CompiledBackend,
  namespace: string,
  defaults: CompiledDefaults | undefined,
): CompiledRoute {
  const backends = route.backends.map((b) => compileBackend(b, monolith, namespace));
  const timeoutMs = durationToMs(route.timeout);
  const modifier = (m: Route['requestHeaders']) =>
    m && { set: m.set ?? {}, add: m.add ?? {}, remove: m.remove ?? [] };
  const cohort = route.cohort;
  // A route's own policy replaces the default one, field by field of spec.defaults.
  const apiKey =
    route.auth?.apiKey !== undefined ? compileApiKey(route.auth.apiKey) : defaults?.apiKey;
  return {
    name: route.name,
    match: {
      path: { type: route.match.path.type, value: route.match.path.value },
      methods: route.match.methods ?? [],
      headers: (route.match.headers ?? []).map((h) => ({ ...h, name: h.name.toLowerCase() })),
      query: route.match.query ?? [],
    },
    backends,
    newServicePercent: backends.filter((b) => !b.monolith).reduce((sum, b) => sum + b.weight, 0),
    ...(cohort?.header !== undefined && { cohort: { header: cohort.header.toLowerCase() } }),
    ...(cohort?.cookie !== undefined && { cohort: { cookie: cohort.cookie } }),
    ...(cohort?.clientIp === true && { cohort: { clientIp: true as const } }),
    ...(route.overrideHeader !== undefined && {
      overrideHeader: route.overrideHeader.toLowerCase(),
    }),
    fallbackToMonolith: route.fallbackToMonolith,
    timeoutMs,
    retries: {
      attempts: route.retries?.attempts ?? 0,
      perTryTimeoutMs:
        route.retries?.perTryTimeout !== undefined
          ? Math.min(durationToMs(route.retries.perTryTimeout), timeoutMs)
          : timeoutMs,
      on: route.retries?.conditions ?? [],
    },
    ...(route.rewrite?.pathPrefix !== undefined && {
      rewrite: { pathPrefix: route.rewrite.pathPrefix },
    }),
    ...(route.rewrite?.fullPath !== undefined && { rewrite: { fullPath: route.rewrite.fullPath } }),
    ...(route.requestHeaders && { requestHeaders: modifier(route.requestHeaders) }),
    ...(route.responseHeaders && { responseHeaders: modifier(route.responseHeaders) }),
    ...(apiKey !== undefined && { apiKey }),
  };
}

/** Compiles a validated ApiRoute into the route table its gateway serves. Pure. */
export function compileRouteTable(apiRoute: ApiRoute, options: CompileOptions = {}): RouteTable {
  const namespace = apiRoute.metadata.namespace ?? DEFAULT_NAMESPACE;
  const { monolith: spec } = apiRoute.spec;
  const accessLog = apiRoute.spec.gateway.accessLog ?? options.defaultAccessLog;
  const defaults = compileDefaults(apiRoute.spec.defaults);
  const monolith: CompiledBackend =
    spec.url !== undefined
      ? { name: MONOLITH_BACKEND, url: trimSlash(spec.url), weight: 0, monolith: true }
      : {
          name: MONOLITH_BACKEND,
          url: serviceUrl(spec.service as string, spec.port as number, namespace),
          service: spec.service,
          weight: 0,
          monolith: true,
        };
  const content: RouteTableContent = {
    version: ROUTE_TABLE_VERSION,
    source: {
      namespace,
      name: apiRoute.metadata.name,
      ...(apiRoute.metadata.generation !== undefined && {
        generation: apiRoute.metadata.generation,
      }),
    },
    monolith,
    backendHeader: apiRoute.spec.gateway.backendHeader.toLowerCase(),
    logLevel: apiRoute.spec.gateway.logLevel,
    trustedProxies: apiRoute.spec.gateway.trustedProxies,
    ...(accessLog !== undefined && { accessLog }),
    ...(defaults !== undefined && { defaults }),
    routes: apiRoute.spec.routes.map((r) => compileRoute(r, monolith, namespace, defaults)),
  };
  return { ...content, hash: routeTableHash(content) };
}

/**
 * The Secrets a table's gateway reads API keys from, sorted and without duplicates: what its
 * Role names and what its Secret watches follow.
 */
export function apiKeySecretNames(table: Pick<RouteTable, 'routes' | 'defaults'>): string[] {
  const names = new Set<string>();
  const defaultName = table.defaults?.apiKey?.secretName;
  if (defaultName !== undefined) names.add(defaultName);
  for (const route of table.routes) {
    if (route.apiKey !== undefined) names.add(route.apiKey.secretName);
  }
  return [...names].sort();
}

/** JSON with object keys sorted, so equal tables always serialise to equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  });
}

/**
 * Content hash of what a gateway serves. The source generation is left out on purpose:
 * an edit that changes nothing the gateway does must not look like a new config. A
 * `hash` already in the table is left out too, so a table hashes as its content does.
 */
export function routeTableHash(table: RouteTableContent): string {
  const { source, ...served }: RouteTableContent & { hash?: string } = table;
  delete served.hash;
  const identity = { namespace: source.namespace, name: source.name };
  return createHash('sha256')
    .update(canonicalJson({ ...served, source: identity }))
    .digest('hex')
    .slice(0, 16);
}

/** Serialises a table, its hash included, for the ConfigMap. */
export function serializeRouteTable(table: RouteTable): string {
  return `${canonicalJson(table)}\n`;
}

/**
 * Parses a table read from a ConfigMap; throws with the field path when it is malformed.
 * Fields this version does not know are dropped; the hash is kept as written.
 */
export function parseRouteTable(text: string): RouteTable {
  const parsed = RouteTableSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    throw new Error(`invalid route table at ${where || '(root)'}: ${issue?.message ?? 'unknown'}`);
  }
  return parsed.data;
}
