// Where a migration's observations come from. The state machine asks one question per
// check: what did route R of ApiRoute N do between the step's start and now? Sources
// answer it from metric windows (MetricWindow) over the gateway's own series:
//   figway_gateway_requests_total{route, backend, code_class}
//   figway_gateway_fallbacks_total{route, backend}
//   figway_gateway_request_duration_seconds{route, backend} (histogram)
//   figway_gateway_shadow_requests_total{route, result}
//   figway_gateway_route_new_service_weight{route} (is the route served, and freshly?)
// The Prometheus source (prometheus-source.ts) evaluates them in PromQL; the gateway
// metrics source (gateway-metrics-source.ts) on snapshots of one gateway's /metrics, for
// `figway dev --migrate`. Either way the same function below turns them into counts, so
// a fallback is a new-service failure in both.
import { MONOLITH_BACKEND } from '../../api/index.js';
import type { ShadowCounts, StepObservations } from './analysis.js';
import type { ObservationResult } from './state-machine.js';
import { histogramQuantile, LATENCY_QUANTILE, type Bucket } from './statistics.js';

/** One route's step window, as the state machine needs it judged. */
export interface ObservationQuery {
  namespace: string;
  apiRoute: string;
  route: string;
  /** The route's new-service backends, by their metric label. */
  newBackends: readonly string[];
  /** The window: the step's start to now (ms since the epoch). */
  fromMs: number;
  toMs: number;
  /** Also read p99 latencies (the plan sets maxLatencyRatio). */
  latency: boolean;
  /** Also read shadow comparisons (the plan sets maxShadowMismatchRatio). */
  shadow: boolean;
}

export interface ObservationSource {
  /** For logs and status messages, e.g. "Prometheus at http://prometheus:9090". */
  readonly description: string;
  /** Never throws: a failure is an { ok: false, reason } the migration pauses on. */
  observe(query: ObservationQuery): Promise<ObservationResult>;
}

/** A source that has nothing: every migration waits, saying why. */
export class NoObservationSource implements ObservationSource {
  readonly description = 'none';
  constructor(private readonly why: string) {}
  observe(): Promise<ObservationResult> {
    return Promise.resolve({ ok: false, reason: this.why });
  }
}

export type LabelMatcher =
  { equals: string } | { notEquals: string } | { oneOf: readonly string[] };
/** Label name → matcher; every one must hold. */
export type Selector = Readonly<Record<string, LabelMatcher>>;

export function matches(matcher: LabelMatcher, value: string | undefined): boolean {
  const v = value ?? '';
  if ('equals' in matcher) return v === matcher.equals;
  if ('notEquals' in matcher) return v !== matcher.notEquals;
  return matcher.oneOf.includes(v);
}

/** Thrown by a MetricWindow when its data cannot be trusted; the reason goes to status. */
export class ObservationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ObservationError';
  }
}

/** Metric arithmetic over one window; implemented by each source. */
export interface MetricWindow {
  /**
   * Throws ObservationError unless the route's gateways report the route (its
   * figway_gateway_route_new_service_weight series) recently enough to trust the rest.
   */
  checkServed(selector: Selector): Promise<void>;
  /** Per value of label `by` (one entry for `by` undefined, key ""): the sum of the counter increases. */
  increase(metric: string, selector: Selector, by?: string): Promise<Map<string, number>>;
  /** The summed histogram's bucket increases in the window. */
  buckets(metric: string, selector: Selector): Promise<Bucket[]>;
}

function total(values: Map<string, number>): number {
  let sum = 0;
  for (const v of values.values()) sum += v;
  return Math.max(0, Math.round(sum));
}

/** The observations of one step from a metric window; throws ObservationError. */
export async function readStepObservations(
  window: MetricWindow,
  query: ObservationQuery,
): Promise<StepObservations> {
  const route = { route: { equals: query.route } };
  const newSide = { ...route, backend: { oneOf: query.newBackends } };
  const monolith = { ...route, backend: { equals: MONOLITH_BACKEND } };
  const answered = { code_class: { notEquals: 'aborted' } };
  const failed = { code_class: { equals: '5xx' } };
  await window.checkServed(route);
  const requests = 'figway_gateway_requests_total';
  const duration = 'figway_gateway_request_duration_seconds';
  const [newAnswered, newFailed, fallbacks, monolithAnswered, monolithFailed, latency, shadow] =
    await Promise.all([
      window.increase(requests, { ...newSide, ...answered }).then(total),
      window.increase(requests, { ...newSide, ...failed }).then(total),
      // A request that failed on the new service and was served by the monolith instead
      // is counted under the monolith: it is a new-service failure, not a monolith request.
      window.increase('figway_gateway_fallbacks_total', newSide).then(total),
      window.increase(requests, { ...monolith, ...answered }).then(total),
      window.increase(requests, { ...monolith, ...failed }).then(total),
      query.latency
        ? Promise.all([window.buckets(duration, newSide), window.buckets(duration, monolith)])
        : undefined,
      query.shadow
        ? window.increase('figway_gateway_shadow_requests_total', route, 'result')
        : undefined,
    ]);
  const observations: StepObservations = {
    newService: { requests: newAnswered + fallbacks, errors: newFailed + fallbacks },
    monolith: {
      requests: Math.max(0, monolithAnswered - fallbacks),
      errors: Math.min(monolithFailed, Math.max(0, monolithAnswered - fallbacks)),
    },
  };
  if (latency) {
    const [newBuckets, monolithBuckets] = latency;
    observations.latency = {
      newService: latencySample('new service', newBuckets),
      monolith: latencySample('monolith', monolithBuckets),
    };
  }
  if (shadow) observations.shadow = shadowCounts(shadow);
  return observations;
}

function latencySample(side: string, buckets: readonly Bucket[]) {
  const count = Math.max(0, Math.round(buckets.find((b) => b.le === Infinity)?.count ?? 0));
  if (count === 0) return { p99Seconds: 0, count: 0 };
  const p99Seconds = histogramQuantile(LATENCY_QUANTILE, buckets);
  if (!Number.isFinite(p99Seconds))
    throw new ObservationError(`the ${side}'s p99 latency is NaN over ${count} requests`);
  return { p99Seconds, count };
}

function shadowCounts(byResult: Map<string, number>): ShadowCounts {
  const of = (result: string) => Math.max(0, Math.round(byResult.get(result) ?? 0));
  return {
    match: of('match'),
    mismatch: of('mismatch'),
    noise: of('noise'),
    error: of('error'),
    skipped: of('skipped'),
  };
}

/** Runs readStepObservations, turning every failure into the reason a migration pauses on. */
export async function observeWindow(
  description: string,
  window: MetricWindow,
  query: ObservationQuery,
): Promise<ObservationResult> {
  try {
    return { ok: true, observations: await readStepObservations(window, query) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      reason: error instanceof ObservationError ? message : `${description}: ${message}`,
    };
  }
}
