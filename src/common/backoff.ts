// The one retry delay of figway: the work queue's per-key retries and the resilient watch's
// list and watch retries both call it.

/** Capped exponential growth: failure n may wait up to min(maxMs, initialMs × 2^(n-1)). */
export interface BackoffPolicy {
  /** Ceiling of the wait after the first failure. */
  initialMs: number;
  /** Ceiling of every wait, however many failures came before. */
  maxMs: number;
}

/**
 * Checks a policy where it is configured, so that a bad one fails at start-up rather than at
 * the first retry; `names` are the option names to put in the message.
 */
export function checkBackoffPolicy(
  policy: BackoffPolicy,
  names: readonly [initial: string, max: string] = ['initialMs', 'maxMs'],
): BackoffPolicy {
  const { initialMs, maxMs } = policy;
  if (!(initialMs > 0 && Number.isFinite(initialMs)) || !(maxMs >= initialMs)) {
    throw new RangeError(
      `backoff needs 0 < ${names[0]} <= ${names[1]}, got ${names[0]} ${initialMs} and ${names[1]} ${maxMs}`,
    );
  }
  return policy;
}

/**
 * The delay before the retry that follows consecutive failure number `failures` (1 for the
 * first), for a policy that passed checkBackoffPolicy: capped exponential backoff with
 * **equal jitter** ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015), a
 * uniformly random point in [cap/2, cap], where cap = min(maxMs, initialMs × 2^(failures-1)).
 *
 * Equal rather than full jitter ([0, cap]) on purpose: full jitter can retry almost at once
 * after any number of failures, so an API server that is down, or a reconcile that keeps
 * failing, would still see near-immediate retries; equal jitter keeps a floor that doubles
 * with every failure, and still spreads the retries of many clients (gateways after an API
 * server restart) over half of the window.
 *
 * `random` returns [0, 1), like Math.random; inject it for deterministic tests.
 */
export function equalJitterBackoff(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  // 2 ** n overflows to Infinity after ~1,000 failures, which the cap absorbs.
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(failures - 1, 0));
  return Math.round(cap / 2 + (random() * cap) / 2);
}
