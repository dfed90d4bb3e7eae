// What a gateway has learnt about one route's shadow comparisons: how many requests ended
// how, and per field how often the new service differed from the monolith and how often
// the monolith differed from itself. Bounded: at most MAX_FIELDS_PER_ROUTE fields by name,
// every later one counted under OTHER_FIELD (in the stats and in the metric series alike).
import { OTHER_FIELD, type Differences } from './differences.js';
import { isRealDifference, NOISE_MARGINS, type NoiseMargins } from './noise.js';
import { SampleRing, type Sample } from './samples.js';

export const SHADOW_RESULTS = ['match', 'mismatch', 'noise', 'error', 'skipped'] as const;
export type ShadowResult = (typeof SHADOW_RESULTS)[number];
/** The result of a comparison that was made. */
export type ComparedResult = 'match' | 'mismatch' | 'noise';

/** Most fields tracked by name per route. */
export const MAX_FIELDS_PER_ROUTE = 100;

/** Something that counts: a metric series, or a plain number in a test. */
export interface Counter {
  inc(): void;
}

/** Where the stats report to the metrics; called once per result and once per field name. */
export interface StatsCounters {
  result(result: ShadowResult): Counter;
  field(field: string): Counter;
}

export interface RouteStatsOptions {
  readonly noiseCancellation: boolean;
  readonly keepSamples: number;
  readonly maxFields?: number;
  readonly margins?: NoiseMargins;
}

class FieldEntry {
  /** Comparisons in which the candidate differed from the monolith here. */
  mismatches = 0;
  /** Comparisons in which the monolith differed from itself here. */
  noise = 0;
  readonly samples: SampleRing | undefined;
  /** Counts the comparisons in which this field was judged a real difference. */
  counter: Counter | undefined;
  constructor(
    readonly field: string,
    keepSamples: number,
  ) {
    this.samples = keepSamples > 0 ? new SampleRing(keepSamples) : undefined;
  }
}

export interface FieldReport {
  readonly field: string;
  readonly mismatches: number;
  readonly noise: number;
  /** Whether the field is, on the counts so far, a real difference rather than noise. */
  readonly realDifference: boolean;
  readonly samples?: Sample[];
}

export interface RouteReport {
  readonly requests: Record<ShadowResult, number>;
  /** Comparisons made: match + mismatch + noise. */
  readonly compared: number;
  /** mismatch / compared; 0 before the first comparison. */
  readonly mismatchRatio: number;
  /** Real differences first, then by mismatches. */
  readonly fields: FieldReport[];
}

export class RouteShadowStats {
  readonly requests: Record<ShadowResult, number> = {
    match: 0,
    mismatch: 0,
    noise: 0,
    error: 0,
    skipped: 0,
  };
  private compared = 0;
  private readonly fields = new Map<string, FieldEntry>();
  private readonly resultCounters: Record<ShadowResult, Counter>;
  private readonly maxFields: number;
  private readonly margins: NoiseMargins;

  constructor(
    readonly options: RouteStatsOptions,
    private readonly counters: StatsCounters,
  ) {
    this.maxFields = options.maxFields ?? MAX_FIELDS_PER_ROUTE;
    this.margins = options.margins ?? NOISE_MARGINS;
    this.resultCounters = {
      match: counters.result('match'),
      mismatch: counters.result('mismatch'),
      noise: counters.result('noise'),
      error: counters.result('error'),
      skipped: counters.result('skipped'),
    };
  }

  /** Counts a request that was not compared: error or skipped. */
  count(result: 'error' | 'skipped'): void {
    this.requests[result] += 1;
    this.resultCounters[result].inc();
  }

  private entry(field: string): FieldEntry {
    let entry = this.fields.get(field);
    if (entry === undefined) {
      const name = this.fields.size >= this.maxFields ? OTHER_FIELD : field;
      entry = this.fields.get(name);
      if (entry === undefined) {
        entry = new FieldEntry(name, this.options.keepSamples);
        this.fields.set(name, entry);
      }
    }
    return entry;
  }

  private isReal(entry: FieldEntry): boolean {
    // Without noise cancellation there is nothing to tell noise by: ignore is the filter.
    if (!this.options.noiseCancellation) return entry.mismatches > 0;
    return isRealDifference(entry.mismatches, entry.noise, this.compared, this.margins);
  }

  /**
   * Records one comparison: where the candidate differed from the primary, and (with
   * noise cancellation) where the primary differed from the second primary call.
   */
  record(differences: Differences, noise: Differences | undefined): ComparedResult {
    this.compared += 1;
    if (noise !== undefined) {
      // A Set: several names folded into OTHER_FIELD count once per comparison.
      const noisy = new Set<FieldEntry>();
      for (const field of noise.fields.keys()) noisy.add(this.entry(field));
      if (noise.overflowed) noisy.add(this.entry(OTHER_FIELD));
      for (const entry of noisy) entry.noise += 1;
    }
    const differing = new Set<FieldEntry>();
    for (const [field, values] of differences.fields) {
      const entry = this.entry(field);
      if (differing.has(entry)) continue;
      differing.add(entry);
      if (values !== null) entry.samples?.push(values.primary, values.candidate);
    }
    if (differences.overflowed) differing.add(this.entry(OTHER_FIELD));
    let result: ComparedResult = differing.size === 0 ? 'match' : 'noise';
    for (const entry of differing) {
      entry.mismatches += 1;
      if (this.isReal(entry)) {
        // The series exists only for fields judged real at least once.
        entry.counter ??= this.counters.field(entry.field);
        entry.counter.inc();
        result = 'mismatch';
      }
    }
    this.requests[result] += 1;
    this.resultCounters[result].inc();
    return result;
  }

  report(): RouteReport {
    const fields = [...this.fields.values()].map((e): FieldReport => ({
      field: e.field,
      mismatches: e.mismatches,
      noise: e.noise,
      realDifference: this.isReal(e),
      ...(e.samples !== undefined && { samples: e.samples.list() }),
    }));
    fields.sort(
      (a, b) =>
        Number(b.realDifference) - Number(a.realDifference) ||
        b.mismatches - a.mismatches ||
        (a.field < b.field ? -1 : a.field > b.field ? 1 : 0),
    );
    return {
      requests: { ...this.requests },
      compared: this.compared,
      mismatchRatio: this.compared === 0 ? 0 : this.requests.mismatch / this.compared,
      fields,
    };
  }
}
