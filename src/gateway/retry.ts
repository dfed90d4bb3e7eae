// What to do after an upstream attempt: deliver, retry the same backend, fall back to the
// monolith, or give up with an error status. Pure functions of the route's policy and the
// exchange's state, the way undici keeps its RetryHandler's decision swappable: the
// exchange (exchange.ts) only performs what these return, so every rule is a table test.
import type { RetryCondition } from '../api/index.js';
import { equalJitterBackoff, type BackoffPolicy } from '../common/backoff.js';
import type { FailureReason } from './engine.js';

/** A route's retry and fallback settings, prepared once per config. */
export interface RetryPolicy {
  /** Retries after the first try. */
  readonly attempts: number;
  readonly retryOn: ReadonlySet<RetryCondition>;
  readonly fallbackToMonolith: boolean;
}

/** Where one exchange stands when a decision is due. */
export interface AttemptState {
  /** Retries already sent. */
  readonly retries: number;
  /** Whether the exchange already fell back to the monolith. */
  readonly fellBack: boolean;
  /** Whether the backend just tried is the monolith. */
  readonly onMonolith: boolean;
  /** Idempotent and without a body: only such a request can be sent again. */
  readonly replayable: boolean;
  /** Time left before the route timeout. */
  readonly remainingMs: number;
}

export type Decision =
  | { readonly action: 'deliver' }
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'fallback' }
  | { readonly action: 'fail'; readonly status: number };

const DELIVER: Decision = { action: 'deliver' };
const FALLBACK: Decision = { action: 'fallback' };

/** The status a failure reason is answered with. */
export function failureStatus(reason: FailureReason): number {
  switch (reason) {
    case 'timeout':
      return 504;
    case 'no-backend':
      return 503;
    default:
      return 502;
  }
}

/** The retry condition a failure reason counts as (retries.conditions). */
export function retryCondition(reason: FailureReason): string {
  return reason === 'connect-failure' ? 'connect-failure' : String(failureStatus(reason));
}

/** Retries of one request wait 10 ms, 20 ms, 40 ms… at most 250 ms (with equal jitter). */
export const RETRY_BACKOFF: BackoffPolicy = { initialMs: 10, maxMs: 250 };

/** Backoff before retry n (1-based); `random` is in [0, 1). */
export function retryBackoffMs(n: number, random: number): number {
  return equalJitterBackoff(n, RETRY_BACKOFF, () => random);
}

function canRetry(policy: RetryPolicy, state: AttemptState, condition: string): boolean {
  return (
    state.replayable &&
    state.retries < policy.attempts &&
    policy.retryOn.has(condition as RetryCondition) &&
    state.remainingMs > 1
  );
}

function canFallback(policy: RetryPolicy, state: AttemptState): boolean {
  return policy.fallbackToMonolith && !state.fellBack && !state.onMonolith && state.replayable;
}

function retryOrFallback(
  policy: RetryPolicy,
  state: AttemptState,
  condition: string,
  random: number,
): Decision | undefined {
  if (canRetry(policy, state, condition))
    return { action: 'retry', delayMs: retryBackoffMs(state.retries + 1, random) };
  if (canFallback(policy, state)) return FALLBACK;
  return undefined;
}

/**
 * After a response head: 502, 503 and 504 from the upstream are failures the route may
 * retry or fall back on; every other status is the answer.
 */
export function afterHead(
  policy: RetryPolicy,
  state: AttemptState,
  status: number,
  random: number,
): Decision {
  if (status < 502 || status > 504) return DELIVER;
  return retryOrFallback(policy, state, String(status), random) ?? DELIVER;
}

/**
 * After an attempt failed without a usable head. `headSent` is whether the client already
 * has a head: then nothing can be replaced and the answer is cut off (status 0).
 */
export function afterFailure(
  policy: RetryPolicy,
  state: AttemptState,
  reason: FailureReason,
  headSent: boolean,
  random: number,
): Decision {
  if (headSent || reason === 'body') return { action: 'fail', status: 0 };
  return (
    retryOrFallback(policy, state, retryCondition(reason), random) ?? {
      action: 'fail',
      status: failureStatus(reason),
    }
  );
}
