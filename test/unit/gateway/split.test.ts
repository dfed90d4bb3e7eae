import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { cohortPoint, cookieValue, pickBackend, planSplit } from '../../../src/gateway/split.js';

const split = (newWeight: number) =>
  planSplit([
    { monolith: false, weight: newWeight },
    { monolith: true, weight: 100 - newWeight },
  ]);

describe('cohort split', () => {
  it.each([1, 5, 10, 30, 50, 75, 99])(
    'sends %i%% of 10,000 cohort keys to the new service, within 2 percentage points',
    (weight) => {
      const plan = split(weight);
      let toNew = 0;
      for (let i = 0; i < 10_000; i += 1) {
        if (pickBackend(plan, cohortPoint(`user-${i}`)) === 0) toNew += 1;
      }
      expect(Math.abs(toNew / 100 - weight)).toBeLessThanOrEqual(2);
    },
  );

  it('spreads UUID-like and numeric keys evenly too', () => {
    const plan = split(30);
    let numeric = 0;
    let hex = 0;
    for (let i = 0; i < 10_000; i += 1) {
      if (pickBackend(plan, cohortPoint(String(i))) === 0) numeric += 1;
      if (pickBackend(plan, cohortPoint(`${(i * 2654435761).toString(16)}-4a1b`)) === 0) hex += 1;
    }
    expect(Math.abs(numeric / 100 - 30)).toBeLessThanOrEqual(2);
    expect(Math.abs(hex / 100 - 30)).toBeLessThanOrEqual(2);
  });

  it('never sends anyone to a 0% new service and everyone to a 100% one', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        expect(pickBackend(split(0), cohortPoint(key))).toBe(1);
        expect(pickBackend(planSplit([{ monolith: false, weight: 100 }]), cohortPoint(key))).toBe(
          0,
        );
      }),
    );
  });

  it('is monotonic: raising the weight only moves cohorts from the monolith to the new service', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (key, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const point = cohortPoint(key);
          const atLow = pickBackend(split(low), point);
          const atHigh = pickBackend(split(high), point);
          // On the new service at the low weight ⇒ still there at the high weight.
          if (atLow === 0) expect(atHigh).toBe(0);
          // On the monolith at the high weight ⇒ was on the monolith at the low weight.
          if (atHigh === 1) expect(atLow).toBe(1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is sticky: the same key always gets the same point in [0,100)', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        const point = cohortPoint(key);
        expect(point).toBeGreaterThanOrEqual(0);
        expect(point).toBeLessThan(100);
        expect(cohortPoint(key)).toBe(point);
      }),
    );
  });

  it('gives several new-service backends consecutive bands below their total weight', () => {
    const plan = planSplit([
      { monolith: false, weight: 10 },
      { monolith: true, weight: 70 },
      { monolith: false, weight: 20 },
    ]);
    expect(plan.newWeight).toBe(30);
    expect(pickBackend(plan, 5)).toBe(0);
    expect(pickBackend(plan, 10)).toBe(2);
    expect(pickBackend(plan, 29.9)).toBe(2);
    expect(pickBackend(plan, 30)).toBe(1);
  });
});

describe('cohort keys', () => {
  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; session=abc; b=2', 'session')).toBe('abc');
    expect(cookieValue('session=abc', 'session')).toBe('abc');
    expect(cookieValue('xsession=abc; session="q"', 'session')).toBe('q');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
