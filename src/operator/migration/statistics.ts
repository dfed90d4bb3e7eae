// The statistics behind a migration verdict. Pure functions, no I/O.
//
// Error ratios: a step judges the difference d = p_new − p_monolith of the two 5xx ratios
// against the tolerance δ (maxErrorRatioIncrease) with Newcombe's hybrid score bounds
// (Newcombe 1998, method 10), which combine one Wilson score interval per side. Unlike
// the Wald (normal) bounds they stay sound with few requests and with zero errors, which
// is exactly the case of a new, low-traffic path. At confidence c, with one-sided bounds
// L ≤ d ≤ U that each hold with probability c:
//   fail          when L > δ   (the new service is worse than the monolith beyond δ)
//   pass          when U ≤ δ   (it is within δ of the monolith)
//   inconclusive  otherwise    (more requests narrow the bounds until one of the two holds)
// A single proportion (the shadow mismatch ratio) is judged the same way with its own
// Wilson bounds against its maximum. The bounds are approximate: simulated at the
// boundary (a true difference of exactly δ), each wrong verdict happens in about 4-8% of
// steps at 95% confidence (the unit tests pin this down with seeded draws).

/** A one-sided verdict of one criterion. */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

/**
 * The standard normal quantile Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation,
 * relative error below 1.2e-9).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
    -3.066479806614716e1, 2.506628277459239,
  ] as const;
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ] as const;
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ] as const;
  const d = [
    7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416,
  ] as const;
  const low = 0.02425;
  if (p >= low && p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    return (
      ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    );
  }
  // The tails: symmetric, so the upper one is the lower one mirrored.
  const q = Math.sqrt(-2 * Math.log(Math.min(p, 1 - p)));
  const tail =
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  return p < low ? tail : -tail;
}

export interface Interval {
  lower: number;
  upper: number;
}

/**
 * Wilson score bounds for a proportion of `k` in `n` at the normal quantile `z`; each
 * bound is one-sided at confidence Φ(z). No trials: nothing is known, [0, 1].
 */
export function wilsonInterval(k: number, n: number, z: number): Interval {
  if (n <= 0) return { lower: 0, upper: 1 };
  const p = Math.min(Math.max(k / n, 0), 1);
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lower: Math.max(0, center - half), upper: Math.min(1, center + half) };
}

/** Counts of one side of the split in one step. */
export interface ErrorCounts {
  requests: number;
  errors: number;
}

/** A side's error ratio; 0 without requests. */
export function errorRatio(counts: ErrorCounts): number {
  return counts.requests > 0 ? counts.errors / counts.requests : 0;
}

/**
 * Newcombe's hybrid score bounds on p_new − p_monolith. A monolith without requests in
 * the step counts as a perfect baseline (ratio 0, no uncertainty), so the new service is
 * then judged on its own ratio against the tolerance: stricter, never blind.
 */
export function differenceBounds(
  candidate: ErrorCounts,
  baseline: ErrorCounts,
  z: number,
): Interval & { difference: number } {
  const p1 = errorRatio(candidate);
  const p2 = errorRatio(baseline);
  const w1 = wilsonInterval(candidate.errors, candidate.requests, z);
  const w2 =
    baseline.requests > 0
      ? wilsonInterval(baseline.errors, baseline.requests, z)
      : { lower: 0, upper: 0 };
  const difference = p1 - p2;
  return {
    difference,
    lower: difference - Math.hypot(p1 - w1.lower, w2.upper - p2),
    upper: difference + Math.hypot(w1.upper - p1, p2 - w2.lower),
  };
}

/** The rule of the file's header comment, on bounds already computed. */
function verdictOf(bounds: Interval, tolerance: number): Verdict {
  if (bounds.lower > tolerance) return 'fail';
  if (bounds.upper <= tolerance) return 'pass';
  return 'inconclusive';
}

/** Error-ratio verdict of one step: see the header comment. */
export function judgeErrorRatio(
  candidate: ErrorCounts,
  baseline: ErrorCounts,
  tolerance: number,
  confidence: number,
): Verdict {
  return verdictOf(differenceBounds(candidate, baseline, normalQuantile(confidence)), tolerance);
}

/** Verdict on a single proportion `k` of `n` against a maximum (the shadow mismatch ratio). */
export function judgeProportion(
  k: number,
  n: number,
  maximum: number,
  confidence: number,
): Verdict {
  return verdictOf(wilsonInterval(k, n, normalQuantile(confidence)), maximum);
}

/** Most requests `requestsToDecide` looks ahead; beyond it the answer is "many more". */
export const MAX_PROJECTED_REQUESTS = 10_000_000;

/**
 * How many more candidate requests would turn an inconclusive verdict into pass or fail
 * if the ratios observed so far held: every count scaled by the same factor, the
 * smallest such total found by doubling then bisection. undefined when even
 * MAX_PROJECTED_REQUESTS would not decide (ratios at the tolerance), or nothing is
 * observed to project from. `decides(scale)` judges the counts scaled by `scale`.
 */
export function requestsToDecide(
  requests: number,
  decides: (scale: number) => boolean,
): number | undefined {
  if (requests <= 0) return undefined;
  if (decides(1)) return 0;
  const maxScale = MAX_PROJECTED_REQUESTS / requests;
  let low = 1;
  let high = 2;
  while (!decides(Math.min(high, maxScale))) {
    if (high >= maxScale) return undefined;
    low = high;
    high *= 2;
  }
  high = Math.min(high, maxScale);
  // Bisect on whole requests: at most ~24 rounds for MAX_PROJECTED_REQUESTS.
  let lowN = Math.floor(low * requests);
  let highN = Math.ceil(high * requests);
  while (highN - lowN > 1) {
    const mid = Math.floor((lowN + highN) / 2);
    if (decides(mid / requests)) highN = mid;
    else lowN = mid;
  }
  return highN - requests;
}

/** More candidate requests needed for an error-ratio verdict; see requestsToDecide. */
export function errorRequestsToDecide(
  candidate: ErrorCounts,
  baseline: ErrorCounts,
  tolerance: number,
  confidence: number,
): number | undefined {
  const z = normalQuantile(confidence);
  const scaled = (c: ErrorCounts, s: number) => ({
    requests: Math.round(c.requests * s),
    errors: Math.round(c.errors * s),
  });
  return requestsToDecide(
    candidate.requests,
    (s) =>
      verdictOf(differenceBounds(scaled(candidate, s), scaled(baseline, s), z), tolerance) !==
      'inconclusive',
  );
}

/** More trials needed for a proportion verdict; see requestsToDecide. */
export function proportionTrialsToDecide(
  k: number,
  n: number,
  maximum: number,
  confidence: number,
): number | undefined {
  const z = normalQuantile(confidence);
  return requestsToDecide(
    n,
    (s) =>
      verdictOf(wilsonInterval(Math.round(k * s), Math.round(n * s), z), maximum) !==
      'inconclusive',
  );
}

/** The quantile a latency comparison uses: p99, as the API's maxLatencyRatio documents. */
export const LATENCY_QUANTILE = 0.99;

/**
 * Requests each side needs before its p99 is compared: 1/(1 − 0.99) = 100, the least for
 * which the 99th percentile is above at least one observed request rather than the
 * maximum of a handful.
 */
export const LATENCY_MIN_SAMPLES = Math.ceil(1 / (1 - LATENCY_QUANTILE));

/** One side's latency in a step: its p99 and how many requests it is computed from. */
export interface LatencySample {
  p99Seconds: number;
  count: number;
}

/** new p99 / monolith p99; a monolith p99 of 0 makes any positive new p99 infinitely worse. */
export function latencyRatio(candidate: LatencySample, baseline: LatencySample): number {
  if (baseline.p99Seconds > 0) return candidate.p99Seconds / baseline.p99Seconds;
  return candidate.p99Seconds > 0 ? Number.POSITIVE_INFINITY : 1;
}

/**
 * Latency verdict: inconclusive until both sides have LATENCY_MIN_SAMPLES requests, then
 * fail when new p99 / monolith p99 exceeds the maximum ratio, else pass.
 */
export function judgeLatency(
  candidate: LatencySample,
  baseline: LatencySample,
  maxRatio: number,
): Verdict {
  if (candidate.count < LATENCY_MIN_SAMPLES || baseline.count < LATENCY_MIN_SAMPLES)
    return 'inconclusive';
  return latencyRatio(candidate, baseline) > maxRatio ? 'fail' : 'pass';
}

/** One cumulative histogram bucket: observations ≤ `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside its bucket the
 * way PromQL's histogram_quantile does (the lowest bucket from 0, the +Inf bucket
 * answered with the highest finite bound). NaN without observations.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (sorted.length < 2 || total <= 0) return Number.NaN;
  const rank = q * total;
  let previous = { le: 0, count: 0 };
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return previous.le;
      const inBucket = bucket.count - previous.count;
      if (inBucket <= 0) return bucket.le;
      return previous.le + ((bucket.le - previous.le) * (rank - previous.count)) / inBucket;
    }
    previous = bucket;
  }
  return previous.le;
}
