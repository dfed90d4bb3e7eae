// The gateway's Prometheus metrics. Every label value is bounded: route names and backend
// names come from the config, methods from a fixed list, status codes from the registered
// ones (else "other") beside their class. Raw
// paths never become labels. Series of routes and backends that leave the config are
// removed on reload, because prom-client would otherwise export them forever.
import { STATUS_CODES } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { HTTP_METHODS, type CompiledRoute, type RouteTable } from '../api/index.js';
import {
  BUILD_INFO,
  collectCleanDefaultMetrics,
  FastCounter,
  registerBuildInfo,
  FastHistogram,
  type CounterSeries,
  type HistogramSeries,
  type MetricDoc,
} from '../common/metrics.js';
import { CACHE_METRICS } from './cache/registry.js';
import { GRPC_CODE_NAMES } from './grpc/status.js';
import { OTHER_FIELD } from './shadow/differences.js';
import { MAX_FIELDS_PER_ROUTE } from './shadow/route-stats.js';

/** The route label of requests no route claims (served by the monolith). */
export const UNMATCHED_ROUTE = '(unmatched)';
/** The backend label of requests the gateway answered itself (refusals, stage answers). */
export const GATEWAY_BACKEND = 'gateway';
/** code_class of requests whose client went away before the response was complete. */
export const ABORTED_CLASS = 'aborted';

/** The code label of a status that is not registered (e.g. 299, 599). */
export const OTHER_CODE = 'other';

/** Buckets for proxy latency: 1 ms to 10 s. */
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Every gateway metric, for the README's metrics table. Keep in step with GatewayMetrics. */
export const GATEWAY_METRICS: readonly MetricDoc[] = [
  BUILD_INFO,
  {
    name: 'figway_gateway_requests_total',
    type: 'counter',
    labels: ['route', 'backend', 'method', 'code_class', 'code'],
    help: `Requests answered, by the route that claimed them (${UNMATCHED_ROUTE} for none), the backend that served or failed them (none before the first config loads), the method (OTHER for unknown ones), the status class sent to the client (1xx…5xx, or ${ABORTED_CLASS} when the client went away first) and the status code itself (a registered one such as 404 or 503, ${OTHER_CODE} for any other, ${ABORTED_CLASS} as for the class).`,
  },
  {
    name: 'figway_gateway_upstream_duration_seconds',
    type: 'histogram',
    labels: ['route', 'backend'],
    help: "Time from the delivered upstream attempt's start to the response's end: the backend's share of figway_gateway_request_duration_seconds (the rest is the gateway's own work, retries and waits). Buckets 1 ms to 10 s.",
  },
  {
    name: 'figway_gateway_request_bytes_total',
    type: 'counter',
    labels: ['route', 'backend'],
    help: 'Request body bytes sent upstream.',
  },
  {
    name: 'figway_gateway_response_bytes_total',
    type: 'counter',
    labels: ['route', 'backend'],
    help: 'Response bytes (head and body) written to clients.',
  },
  {
    name: 'figway_gateway_request_duration_seconds',
    type: 'histogram',
    labels: ['route', 'backend'],
    help: 'Time from the request arriving to the response ending, retries and fallback included. Buckets 1 ms to 10 s.',
  },
  {
    name: 'figway_gateway_requests_in_flight',
    type: 'gauge',
    labels: [],
    help: 'Requests being proxied now (websocket connections not included).',
  },
  {
    name: 'figway_gateway_websockets_open',
    type: 'gauge',
    labels: [],
    help: 'Websocket connections being proxied now.',
  },
  {
    name: 'figway_gateway_upstream_errors_total',
    type: 'counter',
    labels: ['route', 'backend', 'reason'],
    help: 'Failed upstream attempts by reason: connect-failure, timeout, reset, no-backend (name does not resolve), body (failed mid-response).',
  },
  {
    name: 'figway_gateway_retries_total',
    type: 'counter',
    labels: ['route', 'backend'],
    help: "Retries sent (idempotent requests without a body, on the route's retry conditions).",
  },
  {
    name: 'figway_gateway_fallbacks_total',
    type: 'counter',
    labels: ['route', 'backend'],
    help: 'Requests that failed on the new-service backend `backend` and were served by the monolith instead (fallbackToMonolith).',
  },
  {
    name: 'figway_gateway_auth_results_total',
    type: 'counter',
    labels: ['route', 'policy', 'result'],
    help: 'Authentication results by route, policy (jwt) and result: ok, anonymous (optional auth, no token), missing, oversized (over 8 KiB), malformed, expired, not-yet-valid, wrong-issuer, wrong-audience, algorithm-not-allowed, bad-signature, unknown-key, invalid, forbidden (403: requiredClaims not met), jwks-unavailable (503: no keys were ever fetched).',
  },
  {
    name: 'figway_gateway_config_reloads_total',
    type: 'counter',
    labels: ['result'],
    help: 'Configs received: success (applied), unchanged (same hash as in use), invalid (rejected; the last good config keeps serving).',
  },
  {
    name: 'figway_gateway_config_info',
    type: 'gauge',
    labels: ['hash'],
    help: 'Always 1; hash is the route table hash in use (the same hash /readyz reports and the operator writes to status).',
  },
  {
    name: 'figway_gateway_config_last_reload_success_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time the config in use was applied.',
  },
  {
    name: 'figway_gateway_route_new_service_weight',
    type: 'gauge',
    labels: ['route'],
    help: "Configured share (percent) of the route's traffic for the new service: the migration target.",
  },
  {
    name: 'figway_gateway_shadow_requests_total',
    type: 'counter',
    labels: ['route', 'result'],
    help: "Shadowed requests (spec.routes[].shadow) by result: match (the new service answered as the monolith did), mismatch (a real difference), noise (differences, all of them noise), error (a copy failed or timed out), skipped (a body over maxBodyBytes, over the gateway's in-flight cap, a method not shadowed, or no whole answer from the client's side to compare with).",
  },
  {
    name: 'figway_gateway_shadow_field_mismatches_total',
    type: 'counter',
    labels: ['route', 'field'],
    help: `Comparisons in which \`field\` was a real difference between the new service and the monolith: a JSON path with array indices as [*] (\`$.items[*].price\`), status, headers.NAME or body (non-JSON bodies). At most ${MAX_FIELDS_PER_ROUTE} fields per route by name; later ones are counted as ${OTHER_FIELD}.`,
  },
  {
    name: 'figway_gateway_shadow_duration_seconds',
    type: 'histogram',
    labels: ['route', 'backend'],
    help: 'Time the shadow copies took, by the backend they went to (the new service, or monolith for the noise-cancelling second call and for reverse shadowing). Buckets 1 ms to 10 s, as for the client requests beside it.',
  },
  {
    name: 'figway_gateway_trace_spans_dropped_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Spans of spec.gateway.tracing that never reached the collector: queue_full (the bounded export queue was full, e.g. a collector down or slow) or export_failed (the collector refused the batch or did not answer within the export timeout). Requests never wait for the collector.',
  },
  {
    name: 'figway_gateway_route_new_service_share',
    type: 'gauge',
    labels: ['route'],
    help: "Observed share (percent) of the route's requests served by a new-service backend since its weight last changed: the migration as it happens. For a windowed share, use rate() of figway_gateway_requests_total by backend.",
  },
  {
    name: 'figway_gateway_rate_limit_decisions_total',
    type: 'counter',
    labels: ['route', 'decision'],
    help: "Requests a route's rateLimit judged: allowed, or limited (answered 429).",
  },
  {
    name: 'figway_gateway_rate_limit_fallback_decisions_total',
    type: 'counter',
    labels: ['route'],
    help: 'Decisions of a shared rate limit made by the per-replica budget because Redis was unreachable, too slow, or not configured (--redis-url): while this grows, each replica allows the whole budget.',
  },
  {
    name: 'figway_gateway_grpc_calls_total',
    type: 'counter',
    labels: ['route', 'code'],
    help: 'gRPC calls of REST-to-gRPC routes (spec.routes[].grpc), by route and the gRPC status code they ended with (OK, NOT_FOUND, UNAVAILABLE, … : the 17 codes by name; CANCELLED when the client left first).',
  },
  {
    name: 'figway_gateway_compose_part_requests_total',
    type: 'counter',
    labels: ['route', 'part', 'result'],
    help: 'Parts of composed answers (spec.routes[].compose) by result: ok, or why the part failed: timeout, connect-failure, reset, no-backend, body (broke off), status (not 2xx), not-json, too-large (over 1Mi), cancelled (another part or the client ended the request first).',
  },
  {
    name: 'figway_gateway_compose_part_duration_seconds',
    type: 'histogram',
    labels: ['route', 'part'],
    help: 'Time each part of a composed answer took, retries included. Buckets 1 ms to 10 s.',
  },
  {
    name: 'figway_gateway_rate_limit_redis_up',
    type: 'gauge',
    labels: [],
    help: 'Whether the Redis behind shared rate limits answers: 1 yes, 0 no (or not configured, or not used yet).',
  },
  ...CACHE_METRICS,
];

/** The results figway_gateway_auth_results_total counts for the apiKey policy. */
export const API_KEY_RESULTS = ['ok', 'missing', 'unknown', 'unavailable'] as const;
export type ApiKeyResult = (typeof API_KEY_RESULTS)[number];

const METHOD_INDEX = new Map<string, number>(HTTP_METHODS.map((m, i) => [m, i]));
const METHOD_LABELS = [...HTTP_METHODS, 'OTHER'];
const CLASS_LABELS = ['1xx', '2xx', '3xx', '4xx', '5xx', ABORTED_CLASS];
/** Node's registered status codes, then other, then aborted: a bounded label set. */
const CODE_LABELS = [...Object.keys(STATUS_CODES), OTHER_CODE, ABORTED_CLASS];
const CODE_INDEX = new Map<number, number>(Object.keys(STATUS_CODES).map((c, i) => [Number(c), i]));

export function methodIndex(method: string): number {
  return METHOD_INDEX.get(method) ?? HTTP_METHODS.length;
}

/** Status code → index into CODE_LABELS; 0 (no status) means aborted. */
export function codeIndex(status: number): number {
  if (status < 100 || status > 599) return CODE_LABELS.length - 1;
  return CODE_INDEX.get(status) ?? CODE_LABELS.length - 2;
}

/** Status code → index into CLASS_LABELS; 0 (no status) means aborted. */
export function classIndex(status: number): number {
  if (status < 100 || status > 599) return CLASS_LABELS.length - 1;
  return Math.floor(status / 100) - 1;
}

/**
 * The series of one (route, backend) pair, resolved once per config so a request
 * touches only array slots and numbers.
 */
export class BackendSeries {
  private readonly requests: (CounterSeries<string> | undefined)[] = [];
  readonly duration: HistogramSeries<string>;
  readonly retries: CounterSeries<string>;
  readonly fallbacks: CounterSeries<string>;
  private readonly upstreamDuration: HistogramSeries<string>;
  private readonly requestBytes: CounterSeries<string>;
  private readonly responseBytes: CounterSeries<string>;
  private readonly errors = new Map<string, CounterSeries<string>>();

  constructor(
    private readonly metrics: GatewayMetrics,
    readonly route: string,
    readonly backend: string,
  ) {
    this.duration = metrics.duration.labels({ route, backend });
    this.retries = metrics.retries.labels({ route, backend });
    this.fallbacks = metrics.fallbacks.labels({ route, backend });
    this.upstreamDuration = metrics.upstreamDuration.labels({ route, backend });
    this.requestBytes = metrics.requestBytes.labels({ route, backend });
    this.responseBytes = metrics.responseBytes.labels({ route, backend });
  }

  /** Counts one answered request. `status` 0 means the client went away first. */
  request(method: string, status: number, seconds: number): void {
    const code = codeIndex(status);
    const klass = classIndex(status);
    const slot = (methodIndex(method) * CODE_LABELS.length + code) * CLASS_LABELS.length + klass;
    let series = this.requests[slot];
    if (series === undefined) {
      series = this.metrics.requests.labels({
        route: this.route,
        backend: this.backend,
        method: METHOD_LABELS[methodIndex(method)] as string,
        code_class: CLASS_LABELS[klass] as string,
        code: CODE_LABELS[code] as string,
      });
      this.requests[slot] = series;
    }
    series.inc();
    this.duration.observe(seconds);
  }

  /** What a proxied request moved: its upstream time (when an attempt delivered) and bytes. */
  transferred(upstreamSeconds: number | undefined, bytesIn: number, bytesOut: number): void {
    if (upstreamSeconds !== undefined) this.upstreamDuration.observe(upstreamSeconds);
    this.requestBytes.inc(bytesIn);
    this.responseBytes.inc(bytesOut);
  }

  upstreamError(reason: string): void {
    let series = this.errors.get(reason);
    if (series === undefined) {
      series = this.metrics.upstreamErrors.labels({
        route: this.route,
        backend: this.backend,
        reason,
      });
      this.errors.set(reason, series);
    }
    series.inc();
  }
}

/** Served counts behind figway_gateway_route_new_service_share. */
export class ShareCounter {
  total = 0;
  toNew = 0;
  constructor(public weight: number) {}
}

/** The policies whose series a route keeps: its auth (by the policy label) and rate limit. */
export type RoutePolicy = 'jwt' | 'apiKey' | 'rateLimit' | 'sharedRateLimit';

/** Each route's policies (and unmatched traffic's, from spec.defaults), by route name. Pure. */
export function routePolicies(
  table: Pick<RouteTable, 'routes' | 'defaults'>,
): Map<string, Set<RoutePolicy>> {
  const of = (p: Pick<CompiledRoute, 'jwt' | 'apiKey' | 'rateLimit'> | undefined) => {
    const set = new Set<RoutePolicy>();
    if (p?.jwt !== undefined) set.add('jwt');
    if (p?.apiKey !== undefined) set.add('apiKey');
    if (p?.rateLimit !== undefined) set.add('rateLimit');
    if (p?.rateLimit?.shared === true) set.add('sharedRateLimit');
    return set;
  };
  return new Map([
    [UNMATCHED_ROUTE, of(table.defaults)],
    ...table.routes.map((r) => [r.name, of(r)] as const),
  ]);
}

export class GatewayMetrics {
  readonly registry: Registry;
  readonly requests: FastCounter<'route' | 'backend' | 'method' | 'code_class' | 'code'>;
  readonly duration: FastHistogram<'route' | 'backend'>;
  readonly upstreamDuration: FastHistogram<'route' | 'backend'>;
  readonly requestBytes: FastCounter<'route' | 'backend'>;
  readonly responseBytes: FastCounter<'route' | 'backend'>;
  readonly upstreamErrors: FastCounter<'route' | 'backend' | 'reason'>;
  readonly retries: FastCounter<'route' | 'backend'>;
  readonly fallbacks: FastCounter<'route' | 'backend'>;
  readonly reloads: FastCounter<'result'>;
  readonly shadowRequests: FastCounter<'route' | 'result'>;
  readonly shadowFieldMismatches: FastCounter<'route' | 'field'>;
  readonly shadowDuration: FastHistogram<'route' | 'backend'>;
  readonly authResults: FastCounter<'route' | 'policy' | 'result'>;
  readonly rateLimitDecisions: FastCounter<'route' | 'decision'>;
  readonly rateLimitFallbacks: FastCounter<'route'>;
  readonly grpcCalls: FastCounter<'route' | 'code'>;
  readonly composePartRequests: FastCounter<'route' | 'part' | 'result'>;
  readonly composePartDuration: FastHistogram<'route' | 'part'>;
  readonly traceSpansDropped: FastCounter<'reason'>;
  readonly redisUp: Gauge;
  readonly cacheRequests: FastCounter<'route' | 'result'>;
  /** Each cached route's bytes, read at scrape time; the cache registry sets it. */
  cacheSizes: () => Iterable<readonly [string, number]> = () => [];
  private readonly configInfo: Gauge<'hash'>;
  private readonly lastReload: Gauge;
  private readonly weight: Gauge<'route'>;
  private currentHash: string | undefined;
  /** Per-route share counters, read at scrape time. */
  readonly shares = new Map<string, ShareCounter>();

  constructor(options: {
    inFlight: () => number;
    websockets: () => number;
    defaultMetrics?: boolean;
  }) {
    const registry = new Registry();
    this.registry = registry;
    const doc = (name: string) => GATEWAY_METRICS.find((m) => m.name === name)?.help ?? name;
    this.requests = new FastCounter({
      registry,
      name: 'figway_gateway_requests_total',
      help: doc('figway_gateway_requests_total'),
      labelNames: ['route', 'backend', 'method', 'code_class', 'code'],
    });
    this.duration = new FastHistogram({
      registry,
      name: 'figway_gateway_request_duration_seconds',
      help: doc('figway_gateway_request_duration_seconds'),
      labelNames: ['route', 'backend'],
      buckets: DURATION_BUCKETS,
    });
    this.upstreamDuration = new FastHistogram({
      registry,
      name: 'figway_gateway_upstream_duration_seconds',
      help: doc('figway_gateway_upstream_duration_seconds'),
      labelNames: ['route', 'backend'],
      buckets: DURATION_BUCKETS,
    });
    this.requestBytes = new FastCounter({
      registry,
      name: 'figway_gateway_request_bytes_total',
      help: doc('figway_gateway_request_bytes_total'),
      labelNames: ['route', 'backend'],
    });
    this.responseBytes = new FastCounter({
      registry,
      name: 'figway_gateway_response_bytes_total',
      help: doc('figway_gateway_response_bytes_total'),
      labelNames: ['route', 'backend'],
    });
    new Gauge({
      registers: [registry],
      name: 'figway_gateway_requests_in_flight',
      help: doc('figway_gateway_requests_in_flight'),
      collect() {
        this.set(options.inFlight());
      },
    });
    new Gauge({
      registers: [registry],
      name: 'figway_gateway_websockets_open',
      help: doc('figway_gateway_websockets_open'),
      collect() {
        this.set(options.websockets());
      },
    });
    this.upstreamErrors = new FastCounter({
      registry,
      name: 'figway_gateway_upstream_errors_total',
      help: doc('figway_gateway_upstream_errors_total'),
      labelNames: ['route', 'backend', 'reason'],
    });
    this.retries = new FastCounter({
      registry,
      name: 'figway_gateway_retries_total',
      help: doc('figway_gateway_retries_total'),
      labelNames: ['route', 'backend'],
    });
    this.fallbacks = new FastCounter({
      registry,
      name: 'figway_gateway_fallbacks_total',
      help: doc('figway_gateway_fallbacks_total'),
      labelNames: ['route', 'backend'],
    });
    this.authResults = new FastCounter({
      registry,
      name: 'figway_gateway_auth_results_total',
      help: doc('figway_gateway_auth_results_total'),
      labelNames: ['route', 'policy', 'result'],
    });
    this.reloads = new FastCounter({
      registry,
      name: 'figway_gateway_config_reloads_total',
      help: doc('figway_gateway_config_reloads_total'),
      labelNames: ['result'],
    });
    this.shadowRequests = new FastCounter({
      registry,
      name: 'figway_gateway_shadow_requests_total',
      help: doc('figway_gateway_shadow_requests_total'),
      labelNames: ['route', 'result'],
    });
    this.shadowFieldMismatches = new FastCounter({
      registry,
      name: 'figway_gateway_shadow_field_mismatches_total',
      help: doc('figway_gateway_shadow_field_mismatches_total'),
      labelNames: ['route', 'field'],
    });
    this.shadowDuration = new FastHistogram({
      registry,
      name: 'figway_gateway_shadow_duration_seconds',
      help: doc('figway_gateway_shadow_duration_seconds'),
      labelNames: ['route', 'backend'],
      buckets: DURATION_BUCKETS,
    });
    this.rateLimitDecisions = new FastCounter({
      registry,
      name: 'figway_gateway_rate_limit_decisions_total',
      help: doc('figway_gateway_rate_limit_decisions_total'),
      labelNames: ['route', 'decision'],
    });
    this.rateLimitFallbacks = new FastCounter({
      registry,
      name: 'figway_gateway_rate_limit_fallback_decisions_total',
      help: doc('figway_gateway_rate_limit_fallback_decisions_total'),
      labelNames: ['route'],
    });
    this.grpcCalls = new FastCounter({
      registry,
      name: 'figway_gateway_grpc_calls_total',
      help: doc('figway_gateway_grpc_calls_total'),
      labelNames: ['route', 'code'],
    });
    this.composePartRequests = new FastCounter({
      registry,
      name: 'figway_gateway_compose_part_requests_total',
      help: doc('figway_gateway_compose_part_requests_total'),
      labelNames: ['route', 'part', 'result'],
    });
    this.composePartDuration = new FastHistogram({
      registry,
      name: 'figway_gateway_compose_part_duration_seconds',
      help: doc('figway_gateway_compose_part_duration_seconds'),
      labelNames: ['route', 'part'],
      buckets: DURATION_BUCKETS,
    });
    this.traceSpansDropped = new FastCounter({
      registry,
      name: 'figway_gateway_trace_spans_dropped_total',
      help: doc('figway_gateway_trace_spans_dropped_total'),
      labelNames: ['reason'],
    });
    this.redisUp = new Gauge({
      registers: [registry],
      name: 'figway_gateway_rate_limit_redis_up',
      help: doc('figway_gateway_rate_limit_redis_up'),
    });
    this.cacheRequests = new FastCounter({
      registry,
      name: 'figway_gateway_cache_requests_total',
      help: doc('figway_gateway_cache_requests_total'),
      labelNames: ['route', 'result'],
    });
    const cacheSizes = () => this.cacheSizes();
    new Gauge({
      registers: [registry],
      name: 'figway_gateway_cache_bytes',
      help: doc('figway_gateway_cache_bytes'),
      labelNames: ['route'],
      collect() {
        this.reset();
        for (const [route, bytes] of cacheSizes()) this.set({ route }, bytes);
      },
    });
    // Present from the start so a dashboard shows 0 invalid reloads rather than no data.
    for (const result of ['success', 'unchanged', 'invalid']) this.reloads.labels({ result });
    this.configInfo = new Gauge({
      registers: [registry],
      name: 'figway_gateway_config_info',
      help: doc('figway_gateway_config_info'),
      labelNames: ['hash'],
    });
    this.lastReload = new Gauge({
      registers: [registry],
      name: 'figway_gateway_config_last_reload_success_timestamp_seconds',
      help: doc('figway_gateway_config_last_reload_success_timestamp_seconds'),
    });
    this.weight = new Gauge({
      registers: [registry],
      name: 'figway_gateway_route_new_service_weight',
      help: doc('figway_gateway_route_new_service_weight'),
      labelNames: ['route'],
    });
    const shares = this.shares;
    new Gauge({
      registers: [registry],
      name: 'figway_gateway_route_new_service_share',
      help: doc('figway_gateway_route_new_service_share'),
      labelNames: ['route'],
      collect() {
        this.reset();
        for (const [route, s] of shares) {
          if (s.total > 0) this.set({ route }, (100 * s.toNew) / s.total);
        }
      },
    });
    registerBuildInfo(registry);
    // Prefixed as the operator's are, so the two never collide in one Prometheus job.
    if (options.defaultMetrics !== false) collectCleanDefaultMetrics(registry, 'figway_gateway_');
  }

  /** A route's apiKey series, one per result, resolved once per config. */
  apiKeySeries(route: string): Record<ApiKeyResult, CounterSeries<string>> {
    const series = (result: ApiKeyResult) =>
      this.authResults.labels({ route, policy: 'apiKey', result });
    return {
      ok: series('ok'),
      missing: series('missing'),
      unknown: series('unknown'),
      unavailable: series('unavailable'),
    };
  }

  /** A route's gRPC call series, one per status code (index = code), resolved once per config. */
  grpcCallSeries(route: string): CounterSeries<string>[] {
    return GRPC_CODE_NAMES.map((code) => this.grpcCalls.labels({ route, code }));
  }

  /**
   * Records a newly applied config: the hash in use, each route's weight (restarting
   * its observed share when the weight changed), and drops every series of routes and
   * backends that are gone, and the auth and rate-limit series of routes (unmatched
   * traffic included) that no longer have that policy (`policies`: routePolicies).
   */
  configApplied(
    hash: string,
    routes: readonly { name: string; share: ShareCounter; backends: readonly string[] }[],
    policies: ReadonlyMap<string, ReadonlySet<RoutePolicy>>,
  ): void {
    if (this.currentHash !== undefined) this.configInfo.remove({ hash: this.currentHash });
    this.configInfo.set({ hash }, 1);
    this.currentHash = hash;
    this.lastReload.set(Date.now() / 1000);
    this.reloads.labels({ result: 'success' }).inc();

    const keep = new Map(routes.map((r) => [r.name, new Set([...r.backends, GATEWAY_BACKEND])]));
    keep.set(UNMATCHED_ROUTE, new Set(['monolith', GATEWAY_BACKEND]));
    for (const family of [
      this.requests,
      this.duration,
      this.upstreamDuration,
      this.requestBytes,
      this.responseBytes,
      this.upstreamErrors,
      this.retries,
      this.fallbacks,
    ]) {
      for (const labels of family.labelSets()) {
        const backends = keep.get(labels.route);
        if (backends === undefined || !backends.has(labels.backend)) {
          family.removeMatching({ route: labels.route, backend: labels.backend });
        }
      }
    }
    for (const family of [this.grpcCalls, this.composePartRequests, this.composePartDuration]) {
      for (const labels of family.labelSets()) {
        if (!keep.has(labels.route)) family.removeMatching({ route: labels.route });
      }
    }
    const has = (route: string, policy: RoutePolicy) => policies.get(route)?.has(policy) === true;
    for (const labels of this.authResults.labelSets()) {
      const policy = labels.policy as RoutePolicy;
      if (!has(labels.route, policy))
        this.authResults.removeMatching({ route: labels.route, policy });
    }
    for (const [family, policy] of [
      [this.rateLimitDecisions, 'rateLimit'],
      [this.rateLimitFallbacks, 'sharedRateLimit'],
    ] as const) {
      for (const labels of family.labelSets()) {
        if (!has(labels.route, policy)) family.removeMatching({ route: labels.route });
      }
    }
    for (const route of [...this.shares.keys()]) {
      if (!keep.has(route)) {
        this.shares.delete(route);
        this.weight.remove({ route });
      }
    }
    for (const r of routes) {
      this.weight.set({ route: r.name }, r.share.weight);
      this.shares.set(r.name, r.share);
    }
  }

  /**
   * The share counter a route gets in a new config: the current one while the weight
   * stays, a fresh one when it changes, so the observed share tracks the weight in force.
   */
  shareCounter(route: string, weight: number): ShareCounter {
    const current = this.shares.get(route);
    return current !== undefined && current.weight === weight ? current : new ShareCounter(weight);
  }

  series(route: string, backend: string): BackendSeries {
    return new BackendSeries(this, route, backend);
  }
}
