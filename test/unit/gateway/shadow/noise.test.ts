import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isRealDifference, NOISE_MARGINS } from '../../../../src/gateway/shadow/noise.js';

describe('isRealDifference', () => {
  it.each([
    // mismatches, noise, compared, real
    [10, 0, 10, true, 'differs every time, the monolith never'],
    [10, 10, 10, false, 'differs every time, and so does the monolith (a timestamp)'],
    [10, 9, 10, false, 'within the relative margin of the noise'],
    [50, 20, 100, true, 'well above the noise'],
    [1, 0, 1000, false, 'rarer than the absolute margin'],
    [20, 0, 1000, true, 'rare but above the absolute margin, and never noise'],
    [0, 0, 10, false, 'never differed'],
    [0, 0, 0, false, 'nothing compared'],
  ])('%i mismatches, %i noise of %i: %s (%s)', (mismatches, noise, compared, real) => {
    expect(isRealDifference(mismatches, noise, compared)).toBe(real);
  });

  const counts = fc
    .tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000))
    .map(([m, n, extra]) => ({ mismatches: m, noise: n, compared: Math.max(m, n) + extra }));

  it('never calls a field real when it differs no more often than the monolith from itself', () => {
    fc.assert(
      fc.property(counts, ({ mismatches, noise, compared }) => {
        fc.pre(mismatches <= noise);
        expect(isRealDifference(mismatches, noise, compared)).toBe(false);
      }),
    );
  });

  it('is monotonic: more mismatches never turn a real difference into noise, more noise never the other way', () => {
    fc.assert(
      fc.property(counts, fc.nat(100), ({ mismatches, noise, compared }, more) => {
        const real = isRealDifference(mismatches, noise, compared);
        if (real && mismatches + more <= compared)
          expect(isRealDifference(mismatches + more, noise, compared)).toBe(true);
        if (!real && noise + more <= compared)
          expect(isRealDifference(mismatches, noise + more, compared)).toBe(false);
      }),
    );
  });

  it('says real for any field that always differs and was never noise', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 }), (n) => isRealDifference(n, 0, n)));
    expect(NOISE_MARGINS.absolute).toBeLessThan(1);
  });
});
