// The gateway's shadow comparisons, across configs: the per-route stats (kept over a
// reload while a route compares the same way, fresh when its comparison settings change),
// the in-flight cap that bounds what all comparisons together may hold in memory, and the
// report the admin port serves as /shadow and /shadow.html.
import { canonicalJson, type CompiledShadow } from '../../api/index.js';
import type { ProxyEngine } from '../engine.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ComparisonHost, ShadowComparison } from './comparison.js';
import { RouteShadowStats, type FieldReport, type RouteReport } from './route-stats.js';

/**
 * Comparisons in flight per gateway unless configured otherwise: 16 × 4 bodies × the
 * default 1Mi is 64 MiB of copies at the most, a quarter of the default pod's memory
 * limit. At 10% of 5,000 req/s with copies taking 5 ms, about 3 are in flight.
 */
export const DEFAULT_SHADOW_IN_FLIGHT = 16;

interface RouteEntry {
  readonly shadow: CompiledShadow;
  /** The settings that give the stats their meaning: a change starts them afresh. */
  readonly key: string;
  readonly stats: RouteShadowStats;
}

/** /shadow, per route: what is compared, how it went, and the fields, real ones apart. */
export interface RouteShadowReport extends Omit<RouteReport, 'fields'> {
  readonly route: string;
  readonly backend: string;
  readonly percent: number;
  readonly reverse: boolean;
  readonly noiseCancellation: boolean;
  /** Fields judged real differences, most frequent first. */
  readonly differences: FieldReport[];
  /** Fields that differed, but no more than the monolith differs from itself. */
  readonly noise: FieldReport[];
}

export interface ShadowReport {
  readonly inFlight: number;
  readonly maxInFlight: number;
  readonly routes: RouteShadowReport[];
}

export class ShadowRegistry implements ComparisonHost {
  private inFlight = 0;
  private readonly active = new Set<ShadowComparison>();
  private current = new Map<string, RouteEntry>();
  private next = new Map<string, RouteEntry>();

  constructor(
    readonly engine: ProxyEngine,
    readonly metrics: GatewayMetrics,
    readonly maxInFlight: number = DEFAULT_SHADOW_IN_FLIGHT,
  ) {}

  /** A config is being built: statsFor calls from now on describe it. */
  beginConfig(): void {
    this.next = new Map();
  }

  /** The stats a route's shadow records into in the config being built. */
  statsFor(route: string, shadow: CompiledShadow): RouteShadowStats {
    // Sampling share and timeout change how many comparisons come, not what they mean.
    const key = canonicalJson({ ...shadow, percent: 0, timeoutMs: 0 });
    const running = this.current.get(route);
    const stats =
      running !== undefined && running.key === key
        ? running.stats
        : new RouteShadowStats(shadow.compare, {
            result: (result) => this.metrics.shadowRequests.labels({ route, result }),
            field: (field) => this.metrics.shadowFieldMismatches.labels({ route, field }),
          });
    this.next.set(route, { shadow, key, stats });
    return stats;
  }

  /**
   * The config built since beginConfig is in use: routes that no longer shadow lose their
   * series, routes whose comparison changed lose their field series (fields may mean
   * something else now).
   */
  commitConfig(): void {
    for (const [route, entry] of this.current) {
      const next = this.next.get(route);
      if (next === undefined) {
        this.metrics.shadowRequests.removeMatching({ route });
        this.metrics.shadowDuration.removeMatching({ route });
      }
      if (next?.stats !== entry.stats) this.metrics.shadowFieldMismatches.removeMatching({ route });
    }
    this.current = this.next;
    this.next = new Map();
  }

  /** Takes an in-flight slot; false when the gateway already holds its cap of comparisons. */
  tryAcquire(comparison: ShadowComparison): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    this.inFlight += 1;
    this.active.add(comparison);
    return true;
  }

  release(comparison: ShadowComparison): void {
    if (this.active.delete(comparison)) this.inFlight -= 1;
  }

  /** Shutdown: copies still running are cancelled, so no pool waits on a slow shadow. */
  abandonAll(): void {
    for (const comparison of [...this.active]) comparison.abandon();
  }

  report(): ShadowReport {
    const routes = [...this.current].map(([route, { shadow, stats }]): RouteShadowReport => {
      const { fields, ...totals } = stats.report();
      return {
        route,
        backend: shadow.backend,
        percent: shadow.percent,
        reverse: shadow.reverse,
        noiseCancellation: shadow.compare.noiseCancellation,
        ...totals,
        differences: fields.filter((f) => f.realDifference),
        noise: fields.filter((f) => !f.realDifference),
      };
    });
    return { inFlight: this.inFlight, maxInFlight: this.maxInFlight, routes };
  }
}
