import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { RetryCondition } from '../../../src/api/index.js';
import type { FailureReason } from '../../../src/gateway/engine.js';
import {
  afterFailure,
  afterHead,
  retryBackoffMs,
  type AttemptState,
  type RetryPolicy,
} from '../../../src/gateway/retry.js';

const policy = (
  attempts: number,
  retryOn: RetryCondition[],
  fallbackToMonolith = false,
): RetryPolicy => ({ attempts, retryOn: new Set(retryOn), fallbackToMonolith });

const fresh: AttemptState = {
  retries: 0,
  fellBack: false,
  onMonolith: false,
  replayable: true,
  remainingMs: 1000,
};

describe('the decision after a response head', () => {
  it.each([
    ['200 is the answer', policy(2, ['502', '503']), fresh, 200, 'deliver'],
    ['404 is the answer', policy(2, ['502', '503'], true), fresh, 404, 'deliver'],
    [
      '500 is the answer, never retried',
      policy(2, ['502', '503', '504'], true),
      fresh,
      500,
      'deliver',
    ],
    ['503 on a retry condition is retried', policy(2, ['503']), fresh, 503, 'retry'],
    [
      '503 off the conditions falls back when allowed',
      policy(2, ['502'], true),
      fresh,
      503,
      'fallback',
    ],
    ['503 with nothing allowed is the answer', policy(0, [], false), fresh, 503, 'deliver'],
    [
      'a spent retry budget falls back',
      policy(1, ['502'], true),
      { ...fresh, retries: 1 },
      502,
      'fallback',
    ],
    [
      'the monolith does not fall back to itself',
      policy(0, [], true),
      { ...fresh, onMonolith: true },
      502,
      'deliver',
    ],
    [
      'a request with a body is never replayed',
      policy(2, ['502'], true),
      { ...fresh, replayable: false },
      502,
      'deliver',
    ],
    ['no time left: no retry', policy(2, ['504']), { ...fresh, remainingMs: 0.5 }, 504, 'deliver'],
    [
      'after a fallback, the monolith may still be retried',
      policy(2, ['502'], true),
      { ...fresh, fellBack: true, onMonolith: true },
      502,
      'retry',
    ],
  ] as const)('%s', (_name, p, state, status, action) => {
    expect(afterHead(p, state, status, 0.5).action).toBe(action);
  });
});

describe('the decision after a failed attempt', () => {
  it.each([
    [
      'connect failure retried on connect-failure',
      policy(1, ['connect-failure']),
      'connect-failure',
      'retry',
      undefined,
    ],
    ['connect failure without retries answers 502', policy(0, []), 'connect-failure', 'fail', 502],
    ['timeout retried on 504', policy(1, ['504']), 'timeout', 'retry', undefined],
    ['timeout without retries answers 504', policy(0, []), 'timeout', 'fail', 504],
    ['unresolvable backend answers 503', policy(0, []), 'no-backend', 'fail', 503],
    ['reset counts as 502 and may fall back', policy(0, [], true), 'reset', 'fallback', undefined],
    ['a body failure is always cut off', policy(5, ['502'], true), 'body', 'fail', 0],
  ] as const)('%s', (_name, p, reason, action, status) => {
    const decision = afterFailure(p, fresh, reason, false, 0.5);
    expect(decision.action).toBe(action);
    if (status !== undefined) expect(decision).toEqual({ action: 'fail', status });
  });

  it('cuts off a response whose head the client already has, whatever the policy', () => {
    expect(
      afterFailure(policy(5, ['connect-failure'], true), fresh, 'connect-failure', true, 0.5),
    ).toEqual({
      action: 'fail',
      status: 0,
    });
  });

  it('never retries more often than the route allows, and never replays a body', () => {
    const reasons: FailureReason[] = ['connect-failure', 'timeout', 'reset', 'no-backend'];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 6 }),
        fc.boolean(),
        fc.constantFrom(...reasons),
        (attempts, retries, replayable, reason) => {
          const p = policy(attempts, ['connect-failure', '502', '503', '504'], true);
          const d = afterFailure(p, { ...fresh, retries, replayable }, reason, false, 0.3);
          if (d.action === 'retry') expect(retries).toBeLessThan(attempts);
          if (!replayable) expect(d.action).toBe('fail');
        },
      ),
    );
  });
});

describe('retry backoff', () => {
  it('doubles from 10 ms, caps at 250 ms and keeps at least half of each step', () => {
    expect(retryBackoffMs(1, 0)).toBe(5);
    expect(retryBackoffMs(1, 0.999)).toBeLessThanOrEqual(10);
    expect(retryBackoffMs(3, 0)).toBe(20);
    expect(retryBackoffMs(10, 0)).toBe(125);
    expect(retryBackoffMs(10, 0.999)).toBeLessThanOrEqual(250);
  });
});
