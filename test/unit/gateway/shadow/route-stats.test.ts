import { describe, expect, it } from '@jest/globals';
import {
  Differences,
  MAX_FIELDS_PER_COMPARISON,
  OTHER_FIELD,
} from '../../../../src/gateway/shadow/differences.js';
import {
  MAX_FIELDS_PER_ROUTE,
  RouteShadowStats,
  type StatsCounters,
} from '../../../../src/gateway/shadow/route-stats.js';
import { SampleRing } from '../../../../src/gateway/shadow/samples.js';

/** Counters that remember their values by name, like the metric series do. */
function counters(): StatsCounters & { values: Map<string, number> } {
  const values = new Map<string, number>();
  const counter = (key: string) => ({
    inc() {
      values.set(key, (values.get(key) ?? 0) + 1);
    },
  });
  return {
    values,
    result: (result) => counter(`result ${result}`),
    field: (field) => counter(`field ${field}`),
  };
}

function diff(fields: Record<string, [unknown, unknown]>): Differences {
  const out = new Differences(true);
  for (const [field, [p, c]] of Object.entries(fields)) out.add(field, p, c);
  return out;
}

describe('RouteShadowStats', () => {
  // The scenario: the candidate differs in `total`; the monolith's timestamp
  // differs on every call, so it differs from the candidate on every call too.
  function run(noiseCancellation: boolean, n = 20) {
    const c = counters();
    const stats = new RouteShadowStats({ noiseCancellation, keepSamples: 2 }, c);
    const results = [];
    for (let i = 0; i < n; i += 1) {
      const real = diff({ '$.timestamp': [i, i + 0.5], '$.total': [10, 11] });
      const noise = diff({ '$.timestamp': [i, i + 0.25] });
      results.push(stats.record(real, noiseCancellation ? noise : undefined));
    }
    return { stats, results, c };
  }

  it('with noise cancellation, reports only the field that really differs', () => {
    const { stats, results, c } = run(true);
    expect(new Set(results)).toEqual(new Set(['mismatch']));
    const report = stats.report();
    expect(report.fields.filter((f) => f.realDifference).map((f) => f.field)).toEqual(['$.total']);
    expect(report.fields.find((f) => f.field === '$.timestamp')).toMatchObject({
      mismatches: 20,
      noise: 20,
      realDifference: false,
    });
    expect(c.values.get('field $.total')).toBe(20);
    expect(c.values.has('field $.timestamp')).toBe(false);
    expect(report.mismatchRatio).toBe(1);
  });

  it('without noise cancellation, reports both', () => {
    const { stats } = run(false);
    expect(
      stats
        .report()
        .fields.filter((f) => f.realDifference)
        .map((f) => f.field)
        .sort(),
    ).toEqual(['$.timestamp', '$.total']);
  });

  it('counts a comparison whose only differences are noise as noise', () => {
    const c = counters();
    const stats = new RouteShadowStats({ noiseCancellation: true, keepSamples: 0 }, c);
    const t = diff({ '$.timestamp': [1, 2] });
    expect(stats.record(t, diff({ '$.timestamp': [1, 3] }))).toBe('noise');
    expect(stats.record(new Differences(false), diff({ '$.timestamp': [1, 3] }))).toBe('match');
    expect(c.values.get('result noise')).toBe(1);
    expect(c.values.get('result match')).toBe(1);
    stats.count('skipped');
    stats.count('error');
    expect(stats.report()).toMatchObject({
      requests: { match: 1, mismatch: 0, noise: 1, error: 1, skipped: 1 },
      compared: 2,
      mismatchRatio: 0,
    });
  });

  it('keeps at most the route cap of field names, folding the rest, series included', () => {
    const c = counters();
    const stats = new RouteShadowStats({ noiseCancellation: false, keepSamples: 1 }, c);
    for (let i = 0; i < 10_000; i += 1) stats.record(diff({ [`$.f${i}`]: [1, 2] }), undefined);
    const report = stats.report();
    expect(report.fields).toHaveLength(MAX_FIELDS_PER_ROUTE + 1);
    expect(report.fields.find((f) => f.field === OTHER_FIELD)?.mismatches).toBe(
      10_000 - MAX_FIELDS_PER_ROUTE,
    );
    const series = [...c.values.keys()].filter((k) => k.startsWith('field '));
    expect(series).toHaveLength(MAX_FIELDS_PER_ROUTE + 1);
  });

  it('counts a comparison that overflowed its own cap once under the folded name', () => {
    const c = counters();
    const stats = new RouteShadowStats({ noiseCancellation: false, keepSamples: 0 }, c);
    const wide = new Differences(false);
    for (let i = 0; i <= MAX_FIELDS_PER_COMPARISON; i += 1) wide.add(`$.f${i}`, 1, 2);
    stats.record(wide, undefined);
    expect(stats.report().fields.find((f) => f.field === OTHER_FIELD)?.mismatches).toBe(1);
  });

  it('keeps the last keepSamples value pairs of a field, rendered short', () => {
    const { stats } = run(true, 5);
    const total = stats.report().fields.find((f) => f.field === '$.timestamp');
    expect(total?.samples).toEqual([
      { monolith: '3', candidate: '3.5' },
      { monolith: '4', candidate: '4.5' },
    ]);
  });
});

describe('SampleRing', () => {
  it('keeps the newest, oldest first, with absent and long values made readable', () => {
    const ring = new SampleRing(2);
    ring.push('a', undefined);
    ring.push({ x: 1 }, 'y'.repeat(1000));
    ring.push(Buffer.from('<p>'), null);
    const list = ring.list();
    expect(list[0]).toEqual({ monolith: '{"x":1}', candidate: expect.stringMatching(/^"y+…$/) });
    expect(list[0]?.candidate.length).toBe(256);
    expect(list[1]).toEqual({ monolith: '<p>', candidate: 'null' });
    const fresh = new SampleRing(3);
    fresh.push('a', undefined);
    expect(fresh.list()).toEqual([{ monolith: '"a"', candidate: '(absent)' }]);
  });
});
