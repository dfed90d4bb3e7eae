// The strangler split: which backend of a route serves a request. Pure functions.
//
// A cohort key (user header, cookie or client IP) hashes to a point in [0,100). The
// route's non-monolith backends cover [0, w1), [w1, w1+w2), … and the monolith the rest,
// so a request goes to a new service exactly when its point lies below the cumulative
// new-service weight. Raising that weight therefore only ever moves cohorts from the
// monolith to the new service, never back and forth (DESIGN.md: cohorts are monotonic).
import type { CompiledBackend } from '../api/index.js';

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function hash32(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // FNV alone leaves the last characters' effect in the low bits; fmix32 spreads it to
  // the high bits the point is taken from, so keys like user-1…user-9999 spread evenly.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The point of a cohort key in [0,100). The route name is deliberately not part of the
 * hash: a user who sees the new service on one route of this ApiRoute also sees it on
 * every other route whose weight is at least as high, so a migration feels coherent.
 */
export function cohortPoint(key: string): number {
  return (hash32(key) / 0x1_0000_0000) * 100;
}

/** A route's split, prepared once per config. */
export interface SplitPlan {
  /** Indexes of the non-monolith backends (in route order) and their cumulative weights. */
  readonly newIndexes: readonly number[];
  readonly cumulative: readonly number[];
  /** Index of the monolith backend in the route, or -1 when the route lists none. */
  readonly monolithIndex: number;
  /** Sum of the non-monolith weights. */
  readonly newWeight: number;
}

export function planSplit(
  backends: readonly Pick<CompiledBackend, 'monolith' | 'weight'>[],
): SplitPlan {
  const newIndexes: number[] = [];
  const cumulative: number[] = [];
  let total = 0;
  let monolithIndex = -1;
  backends.forEach((b, i) => {
    if (b.monolith) {
      if (monolithIndex === -1) monolithIndex = i;
      return;
    }
    total += b.weight;
    newIndexes.push(i);
    cumulative.push(total);
  });
  return { newIndexes, cumulative, monolithIndex, newWeight: total };
}

/**
 * The backend for a point in [0,100): the new-service backend whose band holds it, or
 * the monolith (-1 when the route lists no monolith backend and the point is past every
 * band, which weights adding up to 100 rule out).
 */
export function pickBackend(plan: SplitPlan, point: number): number {
  const { cumulative, newIndexes } = plan;
  for (let i = 0; i < cumulative.length; i += 1) {
    if (point < (cumulative[i] as number)) return newIndexes[i] as number;
  }
  return plan.monolithIndex;
}

/** A cookie's value from a Cookie header, without parsing the others. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    let i = start;
    while (i < end && header.charCodeAt(i) === 32) i += 1;
    if (header.startsWith(name, i) && header.charCodeAt(i + name.length) === 61 /* '=' */) {
      let value = header.slice(i + name.length + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1);
      return value;
    }
    start = end + 1;
  }
  return undefined;
}
