// status.routes[].shadow, from the gateways' shadow metrics in Prometheus: pure parts (the
// queries and what their answers mean) and the poller that refreshes them at a bounded
// rate. Prometheus is the source because it already sums the counters of every gateway
// pod of an ApiRoute (the chart's PodMonitor labels them namespace and apiroute); one pod's
// /shadow would show one replica's share of the traffic.
import type { ApiRouteStatus } from '../api/index.js';
import { errorFields, type Logger } from '../common/logger.js';

/** A Prometheus instant query, as migration/prometheus-source.ts's PrometheusSource answers it. */
export interface InstantQuery {
  instant(promql: string, atMs: number): Promise<PromSample[]>;
}

/** One sample of an instant vector, as the Prometheus HTTP API gives it. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

export type RouteShadowStatus = NonNullable<
  NonNullable<ApiRouteStatus['routes']>[number]['shadow']
>;
/** ApiRoute key (namespace/name) → route name → its shadow status. */
export type ShadowStatuses = ReadonlyMap<string, ReadonlyMap<string, RouteShadowStatus>>;

/** How many fields status names. */
export const TOP_FIELDS = 3;

/** Comparisons made, by result, per route of every ApiRoute's gateways. */
export const COMPARED_QUERY =
  'sum by (namespace, apiroute, route, result) (figway_gateway_shadow_requests_total{result=~"match|mismatch|noise"})';
/** The fields most often really different, per route. */
export const TOP_FIELDS_QUERY = `topk by (namespace, apiroute, route) (${TOP_FIELDS}, sum by (namespace, apiroute, route, field) (figway_gateway_shadow_field_mismatches_total) > 0)`;

function routeOf(labels: Readonly<Record<string, string>>): [string, string] | undefined {
  const { namespace, apiroute, route } = labels;
  if (!namespace || !apiroute || !route) return undefined;
  return [`${namespace}/${apiroute}`, route];
}

/** The two query answers as statuses; samples without the labels or with NaN are left out. */
export function shadowStatuses(
  compared: readonly PromSample[],
  fields: readonly PromSample[],
): ShadowStatuses {
  const counts = new Map<string, Map<string, { total: number; mismatch: number }>>();
  for (const sample of compared) {
    const at = routeOf(sample.metric);
    const value = Number(sample.value[1]);
    if (at === undefined || !Number.isFinite(value)) continue;
    const [key, route] = at;
    const routes = counts.get(key) ?? new Map<string, { total: number; mismatch: number }>();
    counts.set(key, routes);
    const c = routes.get(route) ?? { total: 0, mismatch: 0 };
    routes.set(route, c);
    c.total += value;
    if (sample.metric.result === 'mismatch') c.mismatch += value;
  }
  const top = new Map<string, { field: string; value: number }[]>();
  for (const sample of fields) {
    const at = routeOf(sample.metric);
    const field = sample.metric.field;
    const value = Number(sample.value[1]);
    if (at === undefined || field === undefined || !Number.isFinite(value)) continue;
    const id = at.join('\u0001');
    const list = top.get(id) ?? [];
    top.set(id, list);
    list.push({ field, value });
  }
  const out = new Map<string, Map<string, RouteShadowStatus>>();
  for (const [key, routes] of counts) {
    const statuses = new Map<string, RouteShadowStatus>();
    out.set(key, statuses);
    for (const [route, c] of routes) {
      const listed = top.get(`${key}\u0001${route}`) ?? [];
      listed.sort((a, b) => b.value - a.value || (a.field < b.field ? -1 : 1));
      statuses.set(route, {
        requests: Math.round(c.total),
        // Four decimals: status is stored in etcd, and 0.1234 tells what 0.123456 does.
        mismatchRatio: c.total > 0 ? Math.round((10_000 * c.mismatch) / c.total) / 10_000 : 0,
        topFields: listed.slice(0, TOP_FIELDS).map((f) => f.field),
      });
    }
  }
  return out;
}

/** Keys whose statuses differ between two readings (added, changed or gone). */
export function changedKeys(before: ShadowStatuses, after: ShadowStatuses): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => {
    const a = before.get(key);
    const b = after.get(key);
    if (a === undefined || b === undefined) return a !== b;
    if (a.size !== b.size) return true;
    for (const [route, s] of a) {
      const t = b.get(route);
      if (
        t === undefined ||
        t.requests !== s.requests ||
        t.mismatchRatio !== s.mismatchRatio ||
        t.topFields.join('\u0001') !== s.topFields.join('\u0001')
      )
        return true;
    }
    return false;
  });
}

/**
 * Reads the statuses every `intervalMs` and hands the keys that changed to `changed`
 * (which enqueues their reconciles), so each ApiRoute's status is written at most once per
 * interval. A failed reading keeps the last good one and is logged, once per failure run.
 */
export class ShadowStatusPoller {
  private current: ShadowStatuses = new Map();
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly prometheus: InstantQuery,
    private readonly intervalMs: number,
    private readonly changed: (keys: string[]) => void,
    private readonly logger: Logger,
  ) {}

  /** The statuses of one ApiRoute's routes, as last read. */
  statusesOf(key: string): ReadonlyMap<string, RouteShadowStatus> | undefined {
    return this.current.get(key);
  }

  /** Reads now, then every interval; a reading still running when the next is due is not doubled. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.tick();
    }, this.intervalMs);
    this.tick();
  }

  private tick(): void {
    this.running ??= this.poll().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One reading; exposed so tests need not wait for the interval. */
  async poll(): Promise<void> {
    let next: ShadowStatuses;
    try {
      const now = Date.now();
      const [compared, fields] = await Promise.all([
        this.prometheus.instant(COMPARED_QUERY, now),
        this.prometheus.instant(TOP_FIELDS_QUERY, now),
      ]);
      next = shadowStatuses(compared, fields);
    } catch (error) {
      if (!this.failing)
        this.logger.warn(
          'reading shadow comparisons from Prometheus failed; status.routes[].shadow keeps its last reading',
          errorFields(error),
        );
      this.failing = true;
      return;
    }
    if (this.failing) this.logger.info('reading shadow comparisons from Prometheus works again');
    this.failing = false;
    const keys = changedKeys(this.current, next);
    this.current = next;
    if (keys.length > 0) this.changed(keys);
  }
}
