// Observations from Prometheus (--prometheus-url): the gateway metrics as the chart's
// PodMonitor scrapes them, with the namespace and apiroute labels it gives every gateway
// series. Users write no PromQL; the queries are here.
//
// A counter's increase over the step window [from, to] is, evaluated at `to` with
// W = to − from:
//   ((m - m offset W) >= 0) or m
// the difference of the newest samples at both ends for series that existed when the
// step began, and the whole value of series born since (a new gateway pod, the first
// 5xx of a backend) or restarted (a smaller value than before). Unlike increase(), this
// does not extrapolate, so a step's counts are the requests sent in it, to within one
// scrape interval at each end.
//
// Nothing is trusted blind: Prometheus unreachable or failing, no series for the route,
// a newest sample older than maxAgeMs, or NaN: each is an ObservationError whose message
// says which, and the migration pauses on it.
import {
  ObservationError,
  observeWindow,
  type LabelMatcher,
  type MetricWindow,
  type ObservationQuery,
  type ObservationSource,
  type Selector,
} from './source.js';
import type { ObservationResult } from './state-machine.js';
import type { Bucket } from './statistics.js';

export interface PrometheusSourceOptions {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090. */
  url: string;
  /** Newest sample of a route older than this: the gateway is no longer scraped. */
  maxAgeMs?: number;
  timeoutMs?: number;
}

/** A PromQL string literal. */
function quote(value: string): string {
  return JSON.stringify(value);
}

/** RE2 escaping for a literal inside a PromQL regular expression. */
function regexLiteral(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

function matcherText(name: string, m: LabelMatcher): string {
  if ('equals' in m) return `${name}=${quote(m.equals)}`;
  if ('notEquals' in m) return `${name}!=${quote(m.notEquals)}`;
  // An empty alternation would match the empty label; no backend has that name.
  return `${name}=~${quote(m.oneOf.length > 0 ? m.oneOf.map(regexLiteral).join('|') : '$^')}`;
}

/** `metric{…}` with the route's gateway labels (namespace, apiroute) and the selector. */
export function promSelector(
  metric: string,
  gateway: { namespace: string; apiRoute: string },
  selector: Selector,
): string {
  const labels = [
    `namespace=${quote(gateway.namespace)}`,
    `apiroute=${quote(gateway.apiRoute)}`,
    ...Object.entries(selector).map(([name, m]) => matcherText(name, m)),
  ];
  return `${metric}{${labels.join(',')}}`;
}

/** The increase of the selected series over the last `seconds`; see the header comment. */
export function windowIncrease(series: string, seconds: number): string {
  return `((${series} - ${series} offset ${seconds}s) >= 0) or ${series}`;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

class PrometheusWindow implements MetricWindow {
  private readonly seconds: number;
  constructor(
    private readonly source: PrometheusSource,
    private readonly query: ObservationQuery,
  ) {
    // Whole seconds, at least one: PromQL ranges are durations.
    this.seconds = Math.max(1, Math.round((query.toMs - query.fromMs) / 1000));
  }

  private sel(metric: string, selector: Selector): string {
    return promSelector(metric, this.query, selector);
  }

  async checkServed(selector: Selector): Promise<void> {
    const series = this.sel('figway_gateway_route_new_service_weight', selector);
    const result = await this.source.instant(`timestamp(${series})`, this.query.toMs);
    if (result.length === 0) {
      throw new ObservationError(
        `Prometheus has no series ${series}: is the gateway scraped, with the namespace and apiroute labels the chart's PodMonitor gives?`,
      );
    }
    const newest = Math.max(...result.map((s) => Number(s.value[1]) * 1000));
    const age = this.query.toMs - newest;
    if (!Number.isFinite(age) || age > this.source.maxAgeMs) {
      throw new ObservationError(
        `the newest sample of ${series} in Prometheus is ${Number.isFinite(age) ? `${Math.round(age / 1000)}s` : 'of unknown age'} old (more than ${this.source.maxAgeMs / 1000}s): the gateway is no longer scraped`,
      );
    }
  }

  async increase(metric: string, selector: Selector, by?: string): Promise<Map<string, number>> {
    const inner = windowIncrease(this.sel(metric, selector), this.seconds);
    const promql = by === undefined ? `sum(${inner})` : `sum by (${by}) (${inner})`;
    const out = new Map<string, number>();
    for (const sample of await this.source.instant(promql, this.query.toMs)) {
      out.set(by === undefined ? '' : (sample.metric[by] ?? ''), finite(sample, promql));
    }
    return out;
  }

  async buckets(metric: string, selector: Selector): Promise<Bucket[]> {
    const inner = windowIncrease(this.sel(`${metric}_bucket`, selector), this.seconds);
    const promql = `sum by (le) (${inner})`;
    return (await this.source.instant(promql, this.query.toMs)).map((sample) => ({
      le: sample.metric.le === '+Inf' ? Infinity : Number(sample.metric.le),
      count: finite(sample, promql),
    }));
  }
}

function finite(sample: Sample, promql: string): number {
  const value = Number(sample.value[1]);
  if (!Number.isFinite(value))
    throw new ObservationError(`Prometheus returned ${sample.value[1]} for ${promql}`);
  return value;
}

export class PrometheusSource implements ObservationSource {
  readonly description: string;
  readonly maxAgeMs: number;
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(options: PrometheusSourceOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.description = `Prometheus at ${this.base}`;
    this.maxAgeMs = options.maxAgeMs ?? 120_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  observe(query: ObservationQuery): Promise<ObservationResult> {
    return observeWindow(this.description, new PrometheusWindow(this, query), query);
  }

  /** An instant query at `atMs`; throws ObservationError naming what went wrong. */
  async instant(promql: string, atMs: number): Promise<Sample[]> {
    const url = `${this.base}/api/v1/query`;
    const body = new URLSearchParams({ query: promql, time: (atMs / 1000).toFixed(3) });
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ObservationError(
        `${this.description} is unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        { cause: error },
      );
    }
    const text = await response.text();
    let parsed: {
      status?: string;
      error?: string;
      data?: { resultType?: string; result?: Sample[] };
    };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new ObservationError(
        `${this.description} answered HTTP ${response.status} with something other than JSON: ${text.slice(0, 200)}`,
      );
    }
    if (!response.ok || parsed.status !== 'success') {
      throw new ObservationError(
        `${this.description} answered HTTP ${response.status} to ${promql}: ${parsed.error ?? text.slice(0, 200)}`,
      );
    }
    if (parsed.data?.resultType !== 'vector')
      throw new ObservationError(
        `${this.description} answered ${String(parsed.data?.resultType)}, not a vector, to ${promql}`,
      );
    return parsed.data.result ?? [];
  }
}
