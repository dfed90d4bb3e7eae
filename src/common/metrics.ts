// Hot-path metric families for prom-client registries.
//
// prom-client's label children re-validate and re-hash their labels on every inc() and
// observe(). A proxy records a few metrics per request, so that cost shows up in req/s.
// These families hash labels once, when a series is created; the caller keeps the series
// object and increments plain numbers. The registry reads them at scrape time through
// the same get() contract prom-client's own metrics implement, so they sit in one
// Registry with ordinary prom-client metrics.
import { collectDefaultMetrics, Gauge, type Metric, type Registry } from 'prom-client';
import { FIGWAY_VERSION } from '../version.js';

/** The shape prom-client's Registry reads from a metric's get() (not exported by its types). */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

type Labels<L extends string> = Readonly<Record<L, string>>;

function seriesKey(labelNames: readonly string[], labels: Record<string, string>): string {
  // \u0001 cannot appear in a sensible label value and keeps keys unambiguous.
  return labelNames.map((n) => labels[n] ?? '').join('\u0001');
}

function matches(labels: Record<string, string>, partial: Record<string, string>): boolean {
  for (const name in partial) if (labels[name] !== partial[name]) return false;
  return true;
}

interface FamilyOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registry: Registry;
}

abstract class Family<L extends string, S extends { labels: Labels<L> }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly aggregator = 'sum' as const;
  protected readonly series = new Map<string, S>();

  constructor(options: FamilyOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    options.registry.registerMetric(this as unknown as Metric);
  }

  protected abstract create(labels: Labels<L>): S;

  /** The series for these labels, created on first use. Keep it: lookups hash the labels. */
  labels(labels: Labels<L>): S {
    const key = seriesKey(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      series = this.create({ ...labels });
      this.series.set(key, series);
    }
    return series;
  }

  /** The label sets of every series, e.g. to find those a config no longer has. */
  labelSets(): Labels<L>[] {
    return [...this.series.values()].map((s) => s.labels);
  }

  /** Removes every series whose labels include `partial`, e.g. all of a removed route. */
  removeMatching(partial: Partial<Labels<L>>): number {
    let removed = 0;
    for (const [key, s] of this.series) {
      if (matches(s.labels, partial as Record<string, string>)) {
        this.series.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  reset(): void {
    this.series.clear();
  }
}

export class CounterSeries<L extends string> {
  value = 0;
  constructor(readonly labels: Labels<L>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter family whose series are incremented without label hashing. */
export class FastCounter<L extends string> extends Family<L, CounterSeries<L>> {
  readonly type = 'counter' as const;

  protected create(labels: Labels<L>): CounterSeries<L> {
    return new CounterSeries(labels);
  }

  get(): Promise<MetricSnapshot> {
    const values: MetricSnapshot['values'] = [];
    for (const s of this.series.values()) values.push({ labels: s.labels, value: s.value });
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

export class HistogramSeries<L extends string> {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels<L>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Linear from the low end: proxy latencies sit in the first few buckets.
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/** A histogram family (le buckets, _sum, _count) observed without label hashing. */
export class FastHistogram<L extends string> extends Family<L, HistogramSeries<L>> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(options: FamilyOptions<L> & { buckets: readonly number[] }) {
    super(options);
    this.buckets = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels<L>): HistogramSeries<L> {
    return new HistogramSeries(labels, this.buckets);
  }

  get(): Promise<MetricSnapshot> {
    const values: MetricSnapshot['values'] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i += 1) {
        cumulative += s.counts[i] as number;
        const le = i < this.buckets.length ? (this.buckets[i] as number) : '+Inf';
        values.push({
          labels: { ...s.labels, le },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

/** One line of a metrics reference table: what a metric is, for humans and the README. */
export interface MetricDoc {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  help: string;
}

/** Renders metric docs as a Markdown table. */
export function metricsTable(docs: readonly MetricDoc[]): string {
  const rows = docs.map(
    (d) =>
      `| \`${d.name}\` | ${d.type} | ${d.labels.map((l) => `\`${l}\``).join(', ') || '—'} | ${d.help} |`,
  );
  return ['| Metric | Type | Labels | Meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * prom-client's default process and Node.js metrics, minus the gauges it names *_total
 * (nodejs_active_handles_total and friends): `promtool check metrics` rejects a gauge with
 * a counter's suffix (prometheus/client_js#283). The per-type gauges without the suffix
 * (nodejs_active_handles{type}) carry the same information.
 */
export function collectCleanDefaultMetrics(registry: Registry, prefix = ''): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const metric of registry.getMetricsAsArray()) {
    if (metric.type.toString() === 'gauge' && metric.name.endsWith('_total')) {
      registry.removeSingleMetric(metric.name);
    }
  }
}

/** figway_build_info, in the operator's and the gateway's registries alike. */
export const BUILD_INFO: MetricDoc = {
  name: 'figway_build_info',
  type: 'gauge',
  labels: ['version', 'nodejs_version'],
  help: "Always 1; version is figway's (package.json), nodejs_version the Node.js runtime's.",
};

/** Registers figway_build_info (see BUILD_INFO). */
export function registerBuildInfo(registry: Registry): void {
  new Gauge({
    name: BUILD_INFO.name,
    help: BUILD_INFO.help,
    labelNames: BUILD_INFO.labels,
    registers: [registry],
  }).set({ version: FIGWAY_VERSION, nodejs_version: process.version }, 1);
}
