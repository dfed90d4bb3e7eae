// Observations from one gateway's own /metrics, without Prometheus: what `figway dev
// --migrate` judges its demo with. Every observe() scrapes the endpoint and keeps the
// snapshot (a bounded history); a window's increase is the newest snapshot minus the
// latest one taken at or before the window's start. A series missing from that older
// snapshot started at 0; a value that went down is a restarted counter, counted whole.
import {
  matches,
  ObservationError,
  observeWindow,
  type MetricWindow,
  type ObservationQuery,
  type ObservationSource,
  type Selector,
} from './source.js';
import type { ObservationResult } from './state-machine.js';
import type { Bucket } from './statistics.js';

export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses the Prometheus text exposition format; comments and malformed lines are skipped. */
export function parseExposition(text: string): ExpositionSample[] {
  const out: ExpositionSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let label: RegExpExecArray | null;
    while (LABEL.lastIndex < body.length && (label = LABEL.exec(body)) !== null) {
      labels[label[1] as string] = unescape(label[2] as string);
    }
    const raw = m[3] as string;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    out.push({ name: m[1] as string, labels, value });
  }
  return out;
}

interface Snapshot {
  atMs: number;
  samples: ExpositionSample[];
}

function seriesKey(s: ExpositionSample): string {
  const labels = Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${s.name}${JSON.stringify(labels)}`;
}

function selected(samples: readonly ExpositionSample[], name: string, selector: Selector) {
  return samples.filter(
    (s) => s.name === name && Object.entries(selector).every(([l, m]) => matches(m, s.labels[l])),
  );
}

/** The increase of each selected series between two snapshots. */
function increases(
  from: Snapshot | undefined,
  to: Snapshot,
  name: string,
  selector: Selector,
): { sample: ExpositionSample; increase: number }[] {
  const before = new Map(
    selected(from?.samples ?? [], name, selector).map((s) => [seriesKey(s), s.value]),
  );
  return selected(to.samples, name, selector).map((sample) => {
    const old = before.get(seriesKey(sample)) ?? 0;
    return { sample, increase: sample.value >= old ? sample.value - old : sample.value };
  });
}

class SnapshotWindow implements MetricWindow {
  constructor(
    private readonly from: Snapshot | undefined,
    private readonly to: Snapshot,
    private readonly url: string,
  ) {}

  checkServed(selector: Selector): Promise<void> {
    if (selected(this.to.samples, 'figway_gateway_route_new_service_weight', selector).length === 0)
      return Promise.reject(
        new ObservationError(
          `${this.url} has no figway_gateway_route_new_service_weight series for the route`,
        ),
      );
    return Promise.resolve();
  }

  increase(metric: string, selector: Selector, by?: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const { sample, increase } of increases(this.from, this.to, metric, selector)) {
      const key = by === undefined ? '' : (sample.labels[by] ?? '');
      out.set(key, (out.get(key) ?? 0) + increase);
    }
    return Promise.resolve(out);
  }

  buckets(metric: string, selector: Selector): Promise<Bucket[]> {
    const byLe = new Map<number, number>();
    for (const { sample, increase } of increases(
      this.from,
      this.to,
      `${metric}_bucket`,
      selector,
    )) {
      const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + increase);
    }
    return Promise.resolve([...byLe].map(([le, count]) => ({ le, count })));
  }
}

export class GatewayMetricsSource implements ObservationSource {
  readonly description: string;
  private readonly history: Snapshot[] = [];

  /** `url`: a gateway's metrics endpoint, e.g. http://127.0.0.1:9901/metrics. */
  constructor(
    private readonly url: string,
    private readonly maxSnapshots = 4096,
  ) {
    this.description = `gateway metrics at ${url}`;
  }

  async observe(query: ObservationQuery): Promise<ObservationResult> {
    let to: Snapshot;
    try {
      to = { atMs: query.toMs, samples: await this.scrape() };
    } catch (error) {
      return { ok: false, reason: `${this.description}: ${(error as Error).message}` };
    }
    this.history.push(to);
    if (this.history.length > this.maxSnapshots)
      this.history.splice(0, this.history.length - this.maxSnapshots);
    const from = this.history.findLast((s) => s.atMs <= query.fromMs);
    return observeWindow(this.description, new SnapshotWindow(from, to, this.url), query);
  }

  private async scrape(): Promise<ExpositionSample[]> {
    const response = await fetch(this.url, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return parseExposition(text);
  }
}
