// A RouteTable prepared for serving: matcher compiled, splits planned, rewrites planned,
// backends bound to their connection pools and metric series. Built once per config and
// swapped in whole, so a request sees one consistent config from start to end.
import type { CompiledBackend, CompiledRoute, RouteTable } from '../api/index.js';
import { compileTrustedProxies, type TrustedProxies } from './forwarded.js';
import { compileMatcher, type Matcher } from './matcher.js';
import type { BackendSeries, GatewayMetrics, ShareCounter } from './metrics.js';
import { GATEWAY_BACKEND, UNMATCHED_ROUTE } from './metrics.js';
import { planSplit, type SplitPlan } from './split.js';
import { planRewrite, type PathRewrite } from './transforms.js';
import type { ProxyEngine, UpstreamPool } from './engine.js';
import { buildPipeline, type Pipeline, type StageServices } from './pipeline.js';
import type { RetryPolicy } from './retry.js';

/** Key prefix of the pools for the gateway's own requests (shadow copies). */
export const OWN_POOL_PREFIX = 'own ';

/** Timeout of requests no route claims (the monolith path), as for a route without one. */
export const UNMATCHED_TIMEOUT_MS = 15_000;

export interface RuntimeBackend {
  readonly name: string;
  readonly monolith: boolean;
  readonly origin: string;
  /** Path of the backend URL without a trailing slash ('' for none), prefixed to every path. */
  readonly basePath: string;
  /** Host header value for this backend. */
  readonly host: string;
  readonly pool: UpstreamPool;
  readonly series: BackendSeries;
  /** For websocket proxying (http-proxy-3 wants a target URL). */
  readonly url: URL;
}

export interface RuntimeRoute {
  readonly name: string;
  readonly backends: readonly RuntimeBackend[];
  readonly split: SplitPlan;
  readonly cohort: CompiledRoute['cohort'];
  readonly overrideHeader: string | undefined;
  /** Override header values → backend index: "monolith", "new" and each backend name. */
  readonly overrides: ReadonlyMap<string, number>;
  /** The monolith, for fallback. */
  readonly monolith: RuntimeBackend;
  readonly timeoutMs: number;
  readonly perTryTimeoutMs: number;
  readonly retry: RetryPolicy;
  readonly rewrite: PathRewrite;
  /** The stages this route enables, in order. */
  readonly pipeline: Pipeline;
  readonly share: ShareCounter | undefined;
  /** Series of the requests the gateway answers itself on this route, made on first use. */
  readonly localSeries: () => BackendSeries;
  /** Names of this route's backends, for metrics bookkeeping. */
  readonly backendNames: readonly string[];
}

export interface Runtime {
  readonly table: RouteTable;
  readonly hash: string;
  readonly matcher: Matcher;
  readonly routes: readonly RuntimeRoute[];
  /** The pseudo-route of unmatched requests: all to the monolith. */
  readonly unmatched: RuntimeRoute;
  readonly backendHeader: string;
  /** Peers whose X-Forwarded-* headers are believed (spec.gateway.trustedProxies). */
  readonly trustedProxies: TrustedProxies;
  /**
   * Pools this runtime uses, by origin (OWN_POOL_PREFIX + origin for the gateway's own
   * requests), so a reload can reuse them and close the rest.
   */
  readonly pools: ReadonlyMap<string, UpstreamPool>;
}

/** A route's series for gateway answers, created only when one happens. */
function lazySeries(metrics: GatewayMetrics, route: string): () => BackendSeries {
  let series: BackendSeries | undefined;
  return () => (series ??= metrics.series(route, GATEWAY_BACKEND));
}

function basePath(url: URL): string {
  const path = url.pathname;
  return path === '/' ? '' : path.replace(/\/+$/, '');
}

/**
 * Prepares a table. `pools` holds the pools of the config in use: pools for origins that
 * stay are reused, so keep-alive connections survive a reload.
 */
export function buildRuntime(
  table: RouteTable,
  hash: string,
  engine: ProxyEngine,
  metrics: GatewayMetrics,
  pools: ReadonlyMap<string, UpstreamPool>,
  services: Omit<StageServices, 'table' | 'metrics' | 'ownBackend' | 'engine'>,
): Runtime {
  const used = new Map<string, UpstreamPool>();
  const poolFor = (url: URL, key: string): UpstreamPool => {
    let pool = used.get(key) ?? pools.get(key);
    if (pool === undefined) pool = engine.createPool(url);
    used.set(key, pool);
    return pool;
  };
  const backend = (b: CompiledBackend, route: string, own = false): RuntimeBackend => {
    const url = new URL(b.url);
    return {
      name: b.name,
      monolith: b.monolith,
      origin: url.origin,
      basePath: basePath(url),
      host: url.host,
      pool: poolFor(url, own ? `${OWN_POOL_PREFIX}${url.origin}` : url.origin),
      series: metrics.series(route, b.name),
      url,
    };
  };
  const stageServices: StageServices = {
    ...services,
    table,
    metrics,
    engine,
    ownBackend: (b, route) => backend(b, route, true),
  };

  const routes = table.routes.map((r): RuntimeRoute => {
    const backends = r.backends.map((b) => backend(b, r.name));
    const overrides = new Map<string, number>();
    backends.forEach((b, i) => {
      if (!overrides.has(b.name)) overrides.set(b.name, i);
    });
    const split = planSplit(r.backends);
    const firstNew = split.newIndexes[0];
    if (firstNew !== undefined) overrides.set('new', firstNew);
    const monolithIndex = backends.findIndex((b) => b.monolith);
    const monolith =
      monolithIndex >= 0
        ? (backends[monolithIndex] as RuntimeBackend)
        : backend(table.monolith, r.name);
    overrides.set('monolith', monolithIndex >= 0 ? monolithIndex : -1);
    return {
      name: r.name,
      backends,
      split,
      cohort: r.cohort,
      overrideHeader: r.overrideHeader,
      overrides,
      monolith,
      timeoutMs: r.timeoutMs,
      perTryTimeoutMs: r.retries.perTryTimeoutMs,
      retry: {
        attempts: r.retries.attempts,
        retryOn: new Set(r.retries.on),
        fallbackToMonolith: r.fallbackToMonolith,
      },
      rewrite: planRewrite(r),
      pipeline: buildPipeline(r, stageServices),
      share: metrics.shareCounter(r.name, split.newWeight),
      localSeries: lazySeries(metrics, r.name),
      backendNames: [...new Set([...backends.map((b) => b.name), monolith.name])],
    };
  });

  const monolith = backend(table.monolith, UNMATCHED_ROUTE);
  const unmatched: RuntimeRoute = {
    name: UNMATCHED_ROUTE,
    backends: [monolith],
    split: planSplit([table.monolith]),
    cohort: undefined,
    overrideHeader: undefined,
    overrides: new Map(),
    monolith,
    timeoutMs: UNMATCHED_TIMEOUT_MS,
    perTryTimeoutMs: UNMATCHED_TIMEOUT_MS,
    retry: { attempts: 0, retryOn: new Set(), fallbackToMonolith: false },
    rewrite: { kind: 'none' },
    pipeline: buildPipeline(undefined, stageServices),
    share: undefined,
    localSeries: lazySeries(metrics, UNMATCHED_ROUTE),
    backendNames: [monolith.name],
  };

  return {
    table,
    hash,
    matcher: compileMatcher(table),
    routes,
    unmatched,
    backendHeader: table.backendHeader,
    trustedProxies: compileTrustedProxies(table.trustedProxies),
    pools: used,
  };
}
