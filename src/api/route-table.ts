// The compiled route table: the contract between the operator and the gateway. The
// operator writes it into the gateway's ConfigMap; the gateway reads it (from there, or
// compiles it itself from an ApiRoute file for local runs). It is plain JSON: every
// default applied, every duration in milliseconds, every backend resolved to a URL.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationToMs } from './fields.js';
import { parseCidr } from './ip.js';
import {
  HTTP_METHODS,
  PATH_MATCH_TYPES,
  RETRY_CONDITIONS,
  VALUE_MATCH_TYPES,
  type ApiRoute,
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
});

export const RouteTableSchema = z.object({
  version: z.literal(ROUTE_TABLE_VERSION),
  /** The ApiRoute this table was compiled from. */
  source: z.object({ namespace: z.string(), name: z.string(), generation: z.number().optional() }),
  monolith: CompiledBackendSchema,
  backendHeader: z.string(),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']),
  /** Peers whose X-Forwarded-* headers the gateway believes: CIDRs or single addresses. */
  trustedProxies: z
    .array(
      z.string().superRefine((value, ctx) => {
        const parsed = parseCidr(value);
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
      }),
    )
    .default([]),
  routes: z.array(CompiledRouteSchema),
});

export type RouteTable = z.output<typeof RouteTableSchema>;
export type CompiledRoute = z.output<typeof CompiledRouteSchema>;
export type CompiledBackend = z.output<typeof CompiledBackendSchema>;

/** How Service references become URLs; the default is in-cluster DNS. */
export type ServiceResolver = (service: string, port: number, namespace: string) => string;

export const clusterDns: ServiceResolver = (service, port, namespace) =>
  `http://${service}.${namespace}.svc:${port}`;

export interface CompileOptions {
  /** Namespace for Service references when metadata.namespace is absent (local files). */
  defaultNamespace?: string;
  resolve?: ServiceResolver;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

function compileBackend(
  backend: Backend,
  monolith: z.output<typeof CompiledBackendSchema>,
  namespace: string,
  resolve: ServiceResolver,
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
    url: trimSlash(resolve(service, port, namespace)),
    service,
    weight: backend.weight,
    monolith: false,
  };
}

function compileRoute(
  route: Route,
  monolith: CompiledBackend,
  namespace: string,
  resolve: ServiceResolver,
): CompiledRoute {
  const backends = route.backends.map((b) => compileBackend(b, monolith, namespace, resolve));
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
  };
}

/** Compiles a validated ApiRoute into the route table its gateway serves. Pure. */
export function compileRouteTable(apiRoute: ApiRoute, options: CompileOptions = {}): RouteTable {
  const namespace = apiRoute.metadata.namespace ?? options.defaultNamespace ?? 'default';
  const resolve = options.resolve ?? clusterDns;
  const { monolith: spec } = apiRoute.spec;
  const monolith: CompiledBackend =
    spec.url !== undefined
      ? { name: MONOLITH_BACKEND, url: trimSlash(spec.url), weight: 0, monolith: true }
      : {
          name: MONOLITH_BACKEND,
          url: trimSlash(resolve(spec.service as string, spec.port as number, namespace)),
          service: spec.service,
          weight: 0,
          monolith: true,
        };
  return {
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
    routes: apiRoute.spec.routes.map((r) => compileRoute(r, monolith, namespace, resolve)),
  };
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
 * an edit that changes nothing the gateway does must not look like a new config.
 */
export function routeTableHash(table: RouteTable): string {
  const { source, ...served } = table;
  const identity = { namespace: source.namespace, name: source.name };
  return createHash('sha256')
    .update(canonicalJson({ ...served, source: identity }))
    .digest('hex')
    .slice(0, 16);
}

/** Serialises a table for the ConfigMap. */
export function serializeRouteTable(table: RouteTable): string {
  return `${canonicalJson(table)}\n`;
}

/** Parses a table read from a ConfigMap; throws with the field path when it is malformed. */
export function parseRouteTable(text: string): RouteTable {
  const parsed = RouteTableSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    throw new Error(`invalid route table at ${where || '(root)'}: ${issue?.message ?? 'unknown'}`);
  }
  return parsed.data;
}
