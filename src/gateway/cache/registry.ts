// The gateway's caches, across configs: one RouteCache per cached route, kept over a reload
// while the route stays the same (cache/key.ts routeCacheIdentity) and dropped, entries and
// all, when a config changes it or removes it. Also the cache's metrics and purges.
import type { CompiledCache } from '../../api/index.js';
import { canonicalJson } from '../../api/index.js';
import type { FastCounter, MetricDoc } from '../../common/metrics.js';
import type { ProxyEngine } from '../engine.js';
import type { GatewayMetrics } from '../metrics.js';
import { RouteCache } from './store.js';

/** What figway_gateway_cache_requests_total counts. */
export const CACHE_RESULTS = ['hit', 'miss', 'stale', 'revalidated', 'bypass'] as const;
export type CacheResult = (typeof CACHE_RESULTS)[number];

export const CACHE_METRICS: readonly MetricDoc[] = [
  {
    name: 'figway_gateway_cache_requests_total',
    type: 'counter',
    labels: ['route', 'result'],
    help: 'Requests of cached routes (spec.routes[].cache) by result: hit (served fresh from the cache), miss (sent upstream; a storable answer is kept), stale (a stale copy served, under stale-while-revalidate or stale-if-error), revalidated (a conditional request upstream answered 304 and the kept copy was served), bypass (not looked up: a method other than GET or HEAD, a request body or Range, or credentials on a route without perUser).',
  },
  {
    name: 'figway_gateway_cache_bytes',
    type: 'gauge',
    labels: ['route'],
    help: "Bytes a route's cache holds in this pod (bodies and headers), at most its maxBytes.",
  },
];

interface RouteEntry {
  readonly identity: string;
  readonly cache: RouteCache;
}

export class CacheRegistry {
  private current = new Map<string, RouteEntry>();
  private next = new Map<string, RouteEntry>();
  private readonly requests: FastCounter<'route' | 'result'>;

  constructor(
    /** The engine of the cache's own requests (revalidations, background refreshes). */
    readonly engine: ProxyEngine,
    metrics: GatewayMetrics,
  ) {
    this.requests = metrics.cacheRequests;
    metrics.cacheSizes = () => [...this.current].map(([route, e]) => [route, e.cache.bytes]);
  }

  /** A config is being built: cacheFor calls from now on describe it. */
  beginConfig(): void {
    this.next = new Map();
  }

  /**
   * The cache a route uses in the config being built: the running one while the route and
   * its cache settings are unchanged, else an empty one.
   */
  cacheFor(route: string, config: CompiledCache, routeIdentity: string): RouteCache {
    const identity = `${routeIdentity}\n${canonicalJson(config)}`;
    const running = this.current.get(route);
    const cache =
      running !== undefined && running.identity === identity
        ? running.cache
        : new RouteCache(config);
    this.next.set(route, { identity, cache });
    return cache;
  }

  /** The series of one route's results, resolved once per config. */
  results(route: string): Record<CacheResult, { inc(): void }> {
    const series = (result: CacheResult) => this.requests.labels({ route, result });
    return {
      hit: series('hit'),
      miss: series('miss'),
      stale: series('stale'),
      revalidated: series('revalidated'),
      bypass: series('bypass'),
    };
  }

  /** The config built since beginConfig is in use: caches it no longer has are dropped. */
  commitConfig(): void {
    for (const route of this.current.keys()) {
      if (!this.next.has(route)) this.requests.removeMatching({ route });
    }
    this.current = this.next;
    this.next = new Map();
  }

  /**
   * Drops a route's entries for one target, or all of them (cache/store.ts purge). Returns
   * how many, or undefined when the route has no cache.
   */
  purge(route: string, target?: string): number | undefined {
    return this.current.get(route)?.cache.purge(target);
  }
}
