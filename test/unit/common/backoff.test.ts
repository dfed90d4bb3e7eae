import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { checkBackoffPolicy, equalJitterBackoff } from '../../../src/common/backoff.js';

const policy = { initialMs: 100, maxMs: 10_000 };
const lowest = () => 0;
const highest = () => 0.999999;

describe('equalJitterBackoff', () => {
  test('the ceiling doubles per failure from initialMs, then stays at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => equalJitterBackoff(n, policy, highest))).toEqual([
      100, 200, 400, 800, 1600, 3200, 6400, 10_000,
    ]);
    expect(equalJitterBackoff(5000, policy, highest)).toBe(10_000);
  });

  test('equal jitter: never below half the ceiling (full jitter would allow 0)', () => {
    expect([1, 2, 3].map((n) => equalJitterBackoff(n, policy, lowest))).toEqual([50, 100, 200]);
    expect(equalJitterBackoff(5000, policy, lowest)).toBe(5000);
    expect(equalJitterBackoff(3, policy, () => 0.5)).toBe(300);
  });

  test('a count of 0 or less is treated as the first failure', () => {
    expect(equalJitterBackoff(0, policy, highest)).toBe(100);
    expect(equalJitterBackoff(-3, policy, highest)).toBe(100);
  });

  test('every delay lies in [cap/2, cap] and never shrinks as failures grow', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (initialMs, extra, failures, r) => {
          const p = { initialMs, maxMs: initialMs + extra };
          const cap = Math.min(p.maxMs, initialMs * 2 ** (failures - 1));
          const delay = equalJitterBackoff(failures, p, () => r);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(cap / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(cap));
          expect(equalJitterBackoff(failures + 1, p, () => r)).toBeGreaterThanOrEqual(delay);
        },
      ),
    );
  });

  test('jitter spreads the delays of many clients over the upper half of the window', () => {
    const delays = Array.from({ length: 2000 }, () => equalJitterBackoff(4, policy));
    const min = Math.min(...delays);
    const max = Math.max(...delays);
    expect(min).toBeGreaterThanOrEqual(400);
    expect(max).toBeLessThanOrEqual(800);
    // Spread, not one value: 2,000 draws cover most of [400, 800].
    expect(max - min).toBeGreaterThan(300);
  });
});

describe('checkBackoffPolicy', () => {
  test('accepts 0 < initial <= max and returns the policy', () => {
    expect(checkBackoffPolicy({ initialMs: 1, maxMs: 1 })).toEqual({ initialMs: 1, maxMs: 1 });
  });

  test.each([
    [{ initialMs: 0, maxMs: 10 }],
    [{ initialMs: -1, maxMs: 10 }],
    [{ initialMs: 20, maxMs: 10 }],
    [{ initialMs: Number.NaN, maxMs: 10 }],
    [{ initialMs: 10, maxMs: Number.NaN }],
  ])('rejects %j, naming the options', (bad) => {
    expect(() => checkBackoffPolicy(bad, ['baseDelayMs', 'maxDelayMs'])).toThrow(
      /backoff needs 0 < baseDelayMs <= maxDelayMs, got baseDelayMs .* and maxDelayMs/,
    );
  });
});
