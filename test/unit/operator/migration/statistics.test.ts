// The statistics of a verdict: reference values from the literature, the decision rule
// as a table, and properties (fast-check) that a sound rule must have.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  differenceBounds,
  errorRequestsToDecide,
  histogramQuantile,
  judgeErrorRatio,
  judgeLatency,
  judgeProportion,
  MAX_PROJECTED_REQUESTS,
  normalQuantile,
  proportionTrialsToDecide,
  wilsonInterval,
} from '../../../../src/operator/migration/statistics.js';

describe('normalQuantile', () => {
  test.each([
    [0.5, 0],
    [0.95, 1.6448536269514722],
    [0.975, 1.959963984540054],
    [0.99, 2.3263478740408408],
    [0.001, -3.090232306167813],
    [0.9999, 3.719016485455709],
  ])('Φ⁻¹(%p) = %p', (p, z) => {
    expect(normalQuantile(p)).toBeCloseTo(z, 8);
  });

  test('refuses probabilities outside (0, 1)', () => {
    expect(() => normalQuantile(1)).toThrow(RangeError);
    expect(() => normalQuantile(0)).toThrow(RangeError);
  });
});

describe('wilsonInterval', () => {
  test.each([
    // 5/10 at 95% two-sided: the textbook interval.
    [5, 10, 1.959963984540054, 0.2366, 0.7634],
    // No failures: the lower bound is 0, the upper z²/(n + z²).
    [0, 10, 1.959963984540054, 0, 0.2775],
    [10, 10, 1.959963984540054, 0.7225, 1],
  ])('%p of %p at z=%p is [%p, %p]', (k, n, z, lower, upper) => {
    const interval = wilsonInterval(k, n, z);
    expect(interval.lower).toBeCloseTo(lower, 4);
    expect(interval.upper).toBeCloseTo(upper, 4);
  });

  test('nothing observed: nothing known', () => {
    expect(wilsonInterval(0, 0, 1.64)).toEqual({ lower: 0, upper: 1 });
  });
});

describe('differenceBounds (Newcombe 1998, method 10)', () => {
  // Examples of Newcombe's paper, 95% two-sided (z = 1.96 on each side).
  test.each([
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
  ])('%p/%p − %p/%p is within [%p, %p]', (e1, n1, e2, n2, lower, upper) => {
    const bounds = differenceBounds(
      { requests: n1, errors: e1 },
      { requests: n2, errors: e2 },
      1.959963984540054,
    );
    expect(bounds.lower).toBeCloseTo(lower, 3);
    expect(bounds.upper).toBeCloseTo(upper, 3);
  });

  test('a monolith without requests is a perfect baseline: the new ratio is judged alone', () => {
    const bounds = differenceBounds(
      { requests: 100, errors: 10 },
      { requests: 0, errors: 0 },
      1.645,
    );
    const alone = wilsonInterval(10, 100, 1.645);
    expect(bounds.lower).toBeCloseTo(alone.lower, 12);
    expect(bounds.upper).toBeCloseTo(alone.upper, 12);
  });
});

describe('judgeErrorRatio: fail beyond the tolerance, pass within it, else inconclusive', () => {
  test.each([
    // newRequests, newErrors, monolithRequests, monolithErrors, tolerance, verdict
    [1000, 0, 9000, 0, 0.01, 'pass'],
    [268, 0, 2000, 0, 0.01, 'pass'], // the least zero-error sample that passes 1% at 95%
    [267, 0, 2000, 0, 0.01, 'inconclusive'],
    [60, 12, 540, 1, 0.01, 'fail'], // 20% 5xx against 0.2%
    [100, 3, 900, 18, 0.01, 'inconclusive'], // 3% vs 2%: exactly at the tolerance
    [20000, 600, 180000, 3600, 0.01, 'inconclusive'], // still at it, with plenty of data
    [20000, 700, 180000, 3600, 0.01, 'fail'], // 3.5% vs 2%
    [5000, 100, 45000, 900, 0.01, 'pass'], // the same ratio on both sides
    [10, 10, 0, 0, 0.5, 'fail'], // every request failed, no monolith traffic to compare
  ])('new %p/%p vs monolith %p/%p, tolerance %p: %s', (n1, e1, n2, e2, tolerance, verdict) => {
    expect(
      judgeErrorRatio({ requests: n1, errors: e1 }, { requests: n2, errors: e2 }, tolerance, 0.95),
    ).toBe(verdict);
  });

  test('a higher confidence needs more evidence both ways', () => {
    const newSide = { requests: 300, errors: 0 };
    const monolith = { requests: 3000, errors: 0 };
    expect(judgeErrorRatio(newSide, monolith, 0.01, 0.95)).toBe('pass');
    expect(judgeErrorRatio(newSide, monolith, 0.01, 0.999)).toBe('inconclusive');
  });

  const counts = fc
    .record({
      n1: fc.integer({ min: 1, max: 5000 }),
      n2: fc.integer({ min: 0, max: 50000 }),
      f1: fc.double({ min: 0, max: 1, noNaN: true }),
      f2: fc.double({ min: 0, max: 1, noNaN: true }),
      tolerance: fc.double({ min: 0, max: 0.2, noNaN: true }),
      confidence: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
    })
    .map(({ n1, n2, f1, f2, tolerance, confidence }) => ({
      candidate: { requests: n1, errors: Math.round(n1 * f1) },
      baseline: { requests: n2, errors: Math.round(n2 * f2) },
      tolerance,
      confidence,
    }));

  test('the bounds hold the observed difference', () => {
    fc.assert(
      fc.property(counts, ({ candidate, baseline, confidence }) => {
        const b = differenceBounds(candidate, baseline, normalQuantile(confidence));
        return b.lower <= b.difference + 1e-12 && b.difference <= b.upper + 1e-12;
      }),
    );
  });

  test('more errors on the new service never turn a verdict towards pass', () => {
    const rank = { pass: 0, inconclusive: 1, fail: 2 } as const;
    fc.assert(
      fc.property(counts, fc.integer({ min: 1, max: 50 }), (c, extra) => {
        const worse = {
          requests: c.candidate.requests,
          errors: Math.min(c.candidate.requests, c.candidate.errors + extra),
        };
        const before = judgeErrorRatio(c.candidate, c.baseline, c.tolerance, c.confidence);
        const after = judgeErrorRatio(worse, c.baseline, c.tolerance, c.confidence);
        return rank[after] >= rank[before];
      }),
    );
  });

  // Newcombe's bounds are approximate: simulated at the boundary (new ratio exactly the
  // monolith's plus the tolerance), each wrong verdict happens in about 4-8% of steps at
  // 95% confidence. Seeded binomial draws, so the figures are the same on every run.
  test.each([
    [200, 800, 0.01, 0.05],
    [1000, 1000, 0.02, 0.01],
    [60, 540, 0, 0.05],
  ])(
    'at the boundary (%p vs %p requests, monolith %p, tolerance %p) wrong verdicts stay rare',
    (n1, n2, p2, tolerance) => {
      let seed = 42;
      const random = () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 0x1_0000_0000;
      };
      const draw = (n: number, p: number) => {
        let k = 0;
        for (let i = 0; i < n; i += 1) if (random() < p) k += 1;
        return k;
      };
      const trials = 2000;
      const verdicts = { pass: 0, fail: 0, inconclusive: 0 };
      for (let t = 0; t < trials; t += 1) {
        const candidate = { requests: n1, errors: draw(n1, p2 + tolerance) };
        const baseline = { requests: n2, errors: draw(n2, p2) };
        verdicts[judgeErrorRatio(candidate, baseline, tolerance, 0.95)] += 1;
      }
      // A true difference at the tolerance must neither pass nor fail often.
      expect(verdicts.pass / trials).toBeLessThan(0.065);
      expect(verdicts.fail / trials).toBeLessThan(0.09);
      // ... and well beyond it, it fails.
      const beyond = { requests: n1, errors: Math.round(n1 * (p2 + tolerance + 0.2)) };
      expect(
        judgeErrorRatio(beyond, { requests: n2, errors: Math.round(n2 * p2) }, tolerance, 0.95),
      ).toBe('fail');
    },
  );
});

describe('requests to decide: what "waiting for N more requests" says', () => {
  test('zero errors at 1%: 268 requests pass, so 200 need 68 more', () => {
    const n = errorRequestsToDecide(
      { requests: 200, errors: 0 },
      { requests: 2000, errors: 0 },
      0.01,
      0.95,
    );
    expect(n).toBe(68);
    // And the projection is right: that many more, at the same ratios, decides.
    expect(
      judgeErrorRatio({ requests: 268, errors: 0 }, { requests: 2680, errors: 0 }, 0.01, 0.95),
    ).toBe('pass');
  });

  test('ratios exactly at the tolerance never decide: undefined, not a made-up number', () => {
    expect(
      errorRequestsToDecide(
        { requests: 100, errors: 3 },
        { requests: 900, errors: 18 },
        0.01,
        0.95,
      ),
    ).toBeUndefined();
  });

  test('a decided verdict needs 0 more', () => {
    expect(
      errorRequestsToDecide({ requests: 60, errors: 12 }, { requests: 540, errors: 1 }, 0.01, 0.95),
    ).toBe(0);
  });

  test('shadow: no mismatch in 1,000 at 0.1% needs about 1,700 more comparisons', () => {
    const n = proportionTrialsToDecide(0, 1000, 0.001, 0.95) as number;
    expect(n).toBeGreaterThan(1600);
    expect(n).toBeLessThan(1800);
    expect(judgeProportion(0, 1000 + n, 0.001, 0.95)).toBe('pass');
    expect(judgeProportion(0, 1000 + n - 1, 0.001, 0.95)).toBe('inconclusive');
  });

  test('never projects beyond the bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (n, k) => {
        const more = proportionTrialsToDecide(Math.min(k, n), n, 0.01, 0.95);
        return more === undefined || (more >= 0 && n + more <= MAX_PROJECTED_REQUESTS + 1);
      }),
    );
  });
});

describe('judgeLatency: a p99 comparison once each side has 100 requests', () => {
  test.each([
    [0.2, 100, 0.1, 100, 1.5, 'fail'],
    [0.14, 100, 0.1, 100, 1.5, 'pass'],
    [0.9, 99, 0.1, 5000, 1.5, 'inconclusive'],
    [0.9, 5000, 0.1, 99, 1.5, 'inconclusive'],
    [0.001, 200, 0, 200, 1.5, 'fail'], // a monolith p99 of 0 makes any new latency worse
    [0, 200, 0, 200, 1.5, 'pass'],
  ])('new p99 %p s (%p requests) vs %p s (%p): max %p× → %s', (p1, n1, p2, n2, max, verdict) => {
    expect(judgeLatency({ p99Seconds: p1, count: n1 }, { p99Seconds: p2, count: n2 }, max)).toBe(
      verdict,
    );
  });
});

describe('histogramQuantile interpolates like PromQL histogram_quantile', () => {
  const buckets = [
    { le: 0.1, count: 50 },
    { le: 0.5, count: 90 },
    { le: 1, count: 100 },
    { le: Number.POSITIVE_INFINITY, count: 100 },
  ];
  test.each([
    [0.5, 0.1],
    [0.25, 0.05],
    [0.99, 0.95],
    [0.9, 0.5],
  ])('q=%p → %p', (q, value) => {
    expect(histogramQuantile(q, buckets)).toBeCloseTo(value, 10);
  });

  test('a quantile in the +Inf bucket is the highest finite bound', () => {
    expect(
      histogramQuantile(0.99, [
        ...buckets.slice(0, 3),
        { le: Number.POSITIVE_INFINITY, count: 110 },
      ]),
    ).toBe(1);
  });

  test('no observations: NaN', () => {
    expect(
      histogramQuantile(
        0.99,
        buckets.map((b) => ({ ...b, count: 0 })),
      ),
    ).toBeNaN();
  });
});
