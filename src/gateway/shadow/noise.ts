// The noise rule (the idea is Diffy's: compare the candidate with the primary, and the
// primary with a second call to the primary). Some fields differ between any two answers
// of the same code: timestamps, generated ids, the order of a set. Such a field differs
// between the new service and the monolith as often as between the monolith and itself,
// and is noise. A field is a real difference only when the new service differs from the
// monolith clearly more often than the monolith differs from itself:
//
//   mismatchRate - noiseRate > absolute   and   mismatchRate > noiseRate * (1 + relative)
//
// with both rates taken over every comparison of the route. The absolute margin keeps a
// field that differs rarely on both sides from flipping on chance; the relative margin
// keeps a field that is noisy most of the time (differs 100% vs 95%) from counting.

export interface NoiseMargins {
  /** How much more often, as a fraction of the noise rate (0.2: 20% more often). */
  readonly relative: number;
  /** By how much more, as a fraction of comparisons (0.01: one comparison in a hundred). */
  readonly absolute: number;
}

export const NOISE_MARGINS: NoiseMargins = { relative: 0.2, absolute: 0.01 };

/**
 * Whether a field is a real difference, from its counts: `mismatches` comparisons in which
 * the candidate differed from the primary there, `noise` in which the primary differed
 * from the second primary call, out of `compared` comparisons.
 */
export function isRealDifference(
  mismatches: number,
  noise: number,
  compared: number,
  margins: NoiseMargins = NOISE_MARGINS,
): boolean {
  if (mismatches <= 0 || compared <= 0) return false;
  const mismatchRate = mismatches / compared;
  const noiseRate = noise / compared;
  return (
    mismatchRate - noiseRate > margins.absolute && mismatchRate > noiseRate * (1 + margins.relative)
  );
}
