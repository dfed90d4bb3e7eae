// The compiled route table: the contract between the operator and the gateway. The
// operator writes it into the gateway's ConfigMap; the gateway reads it (from there, or
// compiles it itself from an ApiRoute file for local runs). It is plain JSON: every
// default applied, every duration in milliseconds, every backend resolved to a URL, and
// the hash of all that, so reader and writer name a config by the same hash.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LOG_LEVELS } from '../common/log-level.js';
import { compileCompose, CompiledComposeSchema, composeBackends } from './compose-schema.js';
import { durationToMs } from './fields.js';
import { compileGrpc, CompiledGrpcSchema, type GrpcDescriptor } from './grpc-descriptor.js';
import { parseCidr } from './ip.js';
import { quantityValue } from './quantity.js';
import { CompiledTracingSchema, compileTracing, type TracingDefaults } from './tracing-schema.js';
import {
  compileCache,
  compileCachePurge,
  CompiledCachePurgeSchema,
  CompiledCacheSchema,
} from './cache-schema.js';
import {
  DEFAULT_NAMESPACE,
  HTTP_METHODS,
  JWT_ALGORITHMS,
  PATH_MATCH_TYPES,
  RETRY_CONDITIONS,
  VALUE_MATCH_TYPES,
  newServiceName,
  type ApiRoute,
  type Backend,
  type RateLimit,
  type Route,
  type Shadow,
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

export const CompiledRateLimitSchema = z.object({
  requestsPerSecond: z.number(),
  burst: z.number(),
  /** Header names lower-cased, as Node presents them. */
  key: z.union([
    z.object({ type: z.literal('clientIp') }),
    z.object({ type: z.literal('apiKey') }),
    z.object({ type: z.literal('header'), name: z.string() }),
    z.object({ type: z.literal('claim'), name: z.string() }),
  ]),
  shared: z.boolean(),
});

/**
 * An apiKey policy as the gateway runs it: the header (lower-cased) and the Secret the keys
 * come from. Only the Secret's name is here: the keys never enter the route table.
 */
export const CompiledApiKeySchema = z.object({ header: z.string(), secretName: z.string() });

/** A CORS policy as the gateway applies it (schema.ts CorsSchema, with maxAge in seconds). */
export const CompiledCorsSchema = z.object({
  /** Exact origins, `*`, or `scheme://*.domain` wildcard subdomains, lower-case. */
  allowOrigins: z.array(z.string()),
  allowMethods: z.array(z.string()),
  /** Lower-cased. */
  allowHeaders: z.array(z.string()),
  /** Lower-cased. */
  exposeHeaders: z.array(z.string()),
  maxAgeSeconds: z.number().optional(),
  allowCredentials: z.boolean(),
});

/** A JWT policy as the gateway applies it (schema.ts JwtSchema, clock skew in seconds). */
export const CompiledJwtSchema = z.object({
  issuer: z.string(),
  audiences: z.array(z.string()),
  /** Exactly one of jwksUri and jwksSecretRef. */
  jwksUri: z.string().optional(),
  jwksSecretRef: z.object({ name: z.string(), key: z.string() }).optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)),
  clockSkewSeconds: z.number(),
  /** Header names lower-cased. */
  claimsToHeaders: z.array(z.object({ claim: z.string(), header: z.string() })),
  requiredClaims: z.array(z.object({ claim: z.string(), values: z.array(z.string()) })),
  optional: z.boolean(),
});

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

export const CompiledShadowSchema = z.object({
  /** Name of the non-monolith backend of this route that is compared with the monolith. */
  backend: z.string(),
  /** Percent of the requests served by the other side that are copied. */
  percent: z.number(),
  /** Methods shadowed (unsafe ones only when the ApiRoute allowed side effects). */
  methods: z.array(z.enum(HTTP_METHODS)),
  maxBodyBytes: z.number(),
  timeoutMs: z.number(),
  /** Copy requests served by the backend to the monolith, instead of the other way round. */
  reverse: z.boolean(),
  compare: z.object({
    /** Lower-cased. */
    headers: z.array(z.string()),
    /** JSON paths (src/api/json-path.ts), as written. */
    ignore: z.array(z.string()),
    noiseCancellation: z.boolean(),
    keepSamples: z.number(),
  }),
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
      z.object({ claim: z.string() }),
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
  shadow: CompiledShadowSchema.optional(),
  cors: CompiledCorsSchema.optional(),
  rateLimit: CompiledRateLimitSchema.optional(),
  jwt: CompiledJwtSchema.optional(),
  apiKey: CompiledApiKeySchema.optional(),
  grpc: CompiledGrpcSchema.optional(),
  cache: CompiledCacheSchema.optional(),
  /** Composition (compose-schema.ts); the route's backends are then those its parts call. */
  compose: CompiledComposeSchema.optional(),
});

/** spec.defaults as applied to unmatched traffic (routes have them merged in already). */
export const CompiledDefaultsSchema = z.object({
  cors: CompiledCorsSchema.optional(),
  rateLimit: CompiledRateLimitSchema.optional(),
  jwt: CompiledJwtSchema.optional(),
  apiKey: CompiledApiKeySchema.optional(),
  cache: CompiledCacheSchema.optional(),
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
  tracing: CompiledTracingSchema.optional(),
  routes: z.array(CompiledRouteSchema),
  defaults: CompiledDefaultsSchema.optional(),
  cachePurge: CompiledCachePurgeSchema.optional(),
});

export type RouteTable = z.output<typeof RouteTableSchema>;
/** A table before its hash is added: what routeTableHash is computed over. */
export type RouteTableContent = Omit<RouteTable, 'hash'>;
export type CompiledRoute = z.output<typeof CompiledRouteSchema>;
export type CompiledBackend = z.output<typeof CompiledBackendSchema>;
export type CompiledShadow = z.output<typeof CompiledShadowSchema>;

export type CompiledJwt = z.output<typeof CompiledJwtSchema>;
export type CompiledCors = z.output<typeof CompiledCorsSchema>;
export type CompiledApiKey = z.output<typeof CompiledApiKeySchema>;
export type CompiledRateLimit = z.output<typeof CompiledRateLimitSchema>;
export type CompiledAccessLog = NonNullable<z.output<typeof RouteTableSchema>['accessLog']>;

export interface CompileOptions {
  /** Access log settings for ApiRoutes that set none (the operator's chart-wide default). */
  defaultAccessLog?: CompiledAccessLog;
  /** Tracing settings for what the ApiRoute leaves out (the operator's chart-wide default). */
  defaultTracing?: TracingDefaults;
  /**
   * The effective new-service weight of each route with a migration, by route name (the
   * operator's migration state). A migrating route missing here gets 0: traffic moves
   * only when the autopilot says so.
   */
  migrationWeights?: ReadonlyMap<string, number>;
  /** The compiled proto of each route with grpc, by route name (the operator reads it). */
  grpcDescriptors?: ReadonlyMap<string, GrpcDescriptor>;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** In-cluster DNS name of a Service port; a local run overrides it with --resolve. */
function serviceUrl(service: string, port: number, namespace: string): string {
  return `http://${service}.${namespace}.svc:${port}`;
}

/** A backend's name in the table and in metrics: monolith, its Service, or its URL's host. */
export function backendName(backend: Backend): string {
  return newServiceName(backend) ?? MONOLITH_BACKEND;
}

function compileBackend(
  backend: Backend,
  monolith: CompiledBackend,
  namespace: string,
): CompiledBackend {
  if (backend.monolith === true) return { ...monolith, weight: backend.weight };
  if (backend.url !== undefined) {
    return {
      name: backendName(backend),
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

function compileShadow(shadow: Shadow): CompiledShadow {
  return {
    backend: shadow.backend,
    percent: shadow.percent,
    methods: shadow.methods,
    // The schema bounds it to a positive quantity of at most 16Mi.
    maxBodyBytes: Math.floor(quantityValue(shadow.maxBodyBytes) as number),
    timeoutMs: durationToMs(shadow.timeout),
    reverse: shadow.reverse,
    compare: {
      headers: shadow.compare.headers.map((h) => h.toLowerCase()),
      ignore: shadow.compare.ignore,
      noiseCancellation: shadow.compare.noiseCancellation,
      keepSamples: shadow.compare.keepSamples,
    },
  };
}

/**
 * Splits `total` percent in proportion to `shares` in whole percents (largest remainder,
 * ties to the earlier entry), equally when every share is 0.
 */
export function apportion(total: number, shares: readonly number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((w) => (sum > 0 ? (total * w) / sum : total / shares.length));
  const whole = exact.map(Math.floor);
  let left = total - whole.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of byRemainder) {
    if (left <= 0) break;
    whole[index] = (whole[index] as number) + 1;
    left -= 1;
  }
  return whole;
}

/**
 * A migrating route's backends at the autopilot's weight: the new-service backends share
 * it in proportion to their spec weights, the monolith takes the rest (and is added when
 * the spec lists the new services only).
 */
function migrationBackends(
  backends: readonly CompiledBackend[],
  weight: number,
  monolith: CompiledBackend,
): CompiledBackend[] {
  const newOnes = backends.filter((b) => !b.monolith);
  const split = apportion(
    weight,
    newOnes.map((b) => b.weight),
  );
  let index = 0;
  const firstMonolith = backends.findIndex((b) => b.monolith);
  const out = backends.map((b, i) =>
    b.monolith
      ? { ...b, weight: i === firstMonolith ? 100 - weight : 0 }
      : { ...b, weight: split[index++] as number },
  );
  return firstMonolith >= 0 ? out : [...out, { ...monolith, weight: 100 - weight }];
}

function compileCors(cors: NonNullable<Route['cors']>): CompiledCors {
  return {
    allowOrigins: cors.allowOrigins,
    allowMethods: cors.allowMethods,
    allowHeaders: cors.allowHeaders.map((h) => h.toLowerCase()),
    exposeHeaders: cors.exposeHeaders.map((h) => h.toLowerCase()),
    ...(cors.maxAge !== undefined && {
      maxAgeSeconds: Math.floor(durationToMs(cors.maxAge) / 1000),
    }),
    allowCredentials: cors.allowCredentials,
  };
}

type Jwt = NonNullable<NonNullable<Route['auth']>['jwt']>;

function compileJwt(jwt: Jwt): CompiledJwt {
  return {
    issuer: jwt.issuer,
    audiences: jwt.audiences,
    ...(jwt.jwksUri !== undefined && { jwksUri: jwt.jwksUri }),
    ...(jwt.jwksSecretRef !== undefined && { jwksSecretRef: jwt.jwksSecretRef }),
    algorithms: jwt.algorithms,
    clockSkewSeconds: Math.floor(durationToMs(jwt.clockSkew) / 1000),
    claimsToHeaders: jwt.claimsToHeaders.map((c) => ({ ...c, header: c.header.toLowerCase() })),
    requiredClaims: jwt.requiredClaims,
    optional: jwt.optional,
  };
}

/** Splits the key's `type:name` spelling, so the gateway never parses it per request. */
export function compileRateLimit(limit: RateLimit): CompiledRateLimit {
  const colon = limit.key.indexOf(':');
  const kind = colon === -1 ? limit.key : limit.key.slice(0, colon);
  const name = limit.key.slice(colon + 1);
  const key: CompiledRateLimit['key'] =
    kind === 'header'
      ? { type: 'header', name: name.toLowerCase() }
      : kind === 'claim'
        ? { type: 'claim', name }
        : kind === 'apiKey'
          ? { type: 'apiKey' }
          : { type: 'clientIp' };
  return {
    requestsPerSecond: limit.requestsPerSecond,
    burst: limit.burst ?? Math.ceil(limit.requestsPerSecond),
    key,
    shared: limit.shared,
  };
}

type Defaults = NonNullable<ApiRoute['spec']['defaults']>;

/** The policies of spec.defaults (or of a route, with spec.defaults filling what it leaves out). */
function compilePolicies(
  own: Pick<Route, 'auth' | 'cors' | 'rateLimit' | 'cache'>,
  defaults: Defaults | undefined,
): z.output<typeof CompiledDefaultsSchema> {
  const cors = own.cors ?? defaults?.cors;
  const auth = own.auth ?? defaults?.auth;
  const jwt = auth?.jwt;
  const apiKey = auth?.apiKey;
  const rateLimit = own.rateLimit ?? defaults?.rateLimit;
  const cache = own.cache ?? defaults?.cache;
  return {
    ...(cors !== undefined && { cors: compileCors(cors) }),
    ...(jwt !== undefined && { jwt: compileJwt(jwt) }),
    ...(apiKey !== undefined && {
      apiKey: { header: apiKey.header.toLowerCase(), secretName: apiKey.secretRef.name },
    }),
    ...(rateLimit !== undefined && { rateLimit: compileRateLimit(rateLimit) }),
    ...(cache !== undefined && { cache: compileCache(cache) }),
  };
}

function compileRoute(
  route: Route,
  monolith: CompiledBackend,
  namespace: string,
  migrationWeights: ReadonlyMap<string, number> | undefined,
  defaults: Defaults | undefined,
  grpcDescriptors: ReadonlyMap<string, GrpcDescriptor> | undefined,
): CompiledRoute {
  const specBackends = route.backends.map((b) => compileBackend(b, monolith, namespace));
  const backends =
    route.migration === undefined
      ? specBackends
      : migrationBackends(specBackends, migrationWeights?.get(route.name) ?? 0, monolith);
  const timeoutMs = durationToMs(route.timeout);
  const modifier = (m: Route['requestHeaders']) =>
    m && { set: m.set ?? {}, add: m.add ?? {}, remove: m.remove ?? [] };
  const cohort = route.cohort;
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
    ...(cohort?.claim !== undefined && { cohort: { claim: cohort.claim } }),
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
    ...(route.shadow && { shadow: compileShadow(route.shadow) }),
    ...compilePolicies(route, defaults),
    ...(route.grpc && { grpc: compileGrpc(route.grpc, grpcDescriptors?.get(route.name)) }),
    ...(route.compose && { compose: compileCompose(route.compose, timeoutMs, MONOLITH_BACKEND) }),
  };
}

/** A composed route with the backends its parts call as its backends, at weight 0. */
function withPartBackends(route: Route, routes: readonly Route[]): Route {
  if (route.compose === undefined) return route;
  const all = routes.flatMap((r) => r.backends);
  // The schema guarantees every part's backend names one of them.
  const find = (name: string) => all.find((b) => newServiceName(b) === name) as Backend;
  const called = composeBackends(route.compose, find, { monolith: true, weight: 0 }, backendName);
  return { ...route, backends: called.map((b) => ({ ...b, weight: 0 })) };
}

/** Compiles a validated ApiRoute into the route table its gateway serves. Pure. */
export function compileRouteTable(apiRoute: ApiRoute, options: CompileOptions = {}): RouteTable {
  const namespace = apiRoute.metadata.namespace ?? DEFAULT_NAMESPACE;
  const { monolith: spec } = apiRoute.spec;
  const accessLog = apiRoute.spec.gateway.accessLog ?? options.defaultAccessLog;
  const tracing = compileTracing(apiRoute.spec.gateway.tracing, options.defaultTracing);
  const defaults = apiRoute.spec.defaults;
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
    ...(tracing !== undefined && { tracing }),
    routes: apiRoute.spec.routes.map((r) =>
      compileRoute(
        withPartBackends(r, apiRoute.spec.routes),
        monolith,
        namespace,
        options.migrationWeights,
        defaults,
        options.grpcDescriptors,
      ),
    ),
    ...(defaults !== undefined && { defaults: compilePolicies({}, defaults) }),
    ...(apiRoute.spec.gateway.cachePurge !== undefined && {
      cachePurge: compileCachePurge(apiRoute.spec.gateway.cachePurge),
    }),
  };
  return { ...content, hash: routeTableHash(content) };
}

/** What a gateway reads one Secret for: its API keys, the JWKS under some of its keys, or both. */
export interface SecretUse {
  readonly name: string;
  readonly apiKeys: boolean;
  /** Data keys holding a JWKS, sorted. */
  readonly jwksKeys: readonly string[];
}

/**
 * The Secrets a table's gateway reads, sorted by name, and what for: what its Role names,
 * what its Secret watches follow, and what the operator checks exists. The cache purge
 * token is read as an API key set (its data key names the token).
 */
export function secretUses(
  table: Pick<RouteTable, 'routes' | 'defaults'> & Partial<Pick<RouteTable, 'cachePurge'>>,
): SecretUse[] {
  const uses = new Map<string, { apiKeys: boolean; jwksKeys: Set<string> }>();
  const use = (name: string) => {
    let found = uses.get(name);
    if (found === undefined) {
      found = { apiKeys: false, jwksKeys: new Set() };
      uses.set(name, found);
    }
    return found;
  };
  if (table.cachePurge !== undefined) use(table.cachePurge.secretName).apiKeys = true;
  for (const policies of [table.defaults, ...table.routes]) {
    if (policies?.apiKey !== undefined) use(policies.apiKey.secretName).apiKeys = true;
    const ref = policies?.jwt?.jwksSecretRef;
    if (ref !== undefined) use(ref.name).jwksKeys.add(ref.key);
  }
  return [...uses.keys()].sort().map((name) => {
    const { apiKeys, jwksKeys } = uses.get(name) as { apiKeys: boolean; jwksKeys: Set<string> };
    return { name, apiKeys, jwksKeys: [...jwksKeys].sort() };
  });
}

/** The names of the Secrets a table's gateway reads, sorted. */
export function secretNames(
  table: Pick<RouteTable, 'routes' | 'defaults'> & Partial<Pick<RouteTable, 'cachePurge'>>,
): string[] {
  return secretUses(table).map((u) => u.name);
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
