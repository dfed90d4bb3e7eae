// The migration state machine: every transition as a table row, then properties over
// random plans, traffic, outages and commands (fast-check).
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson, MigrationStatusSchema } from '../../../../src/api/index.js';
import type { StepObservations } from '../../../../src/operator/migration/analysis.js';
import {
  advance,
  analysisDue,
  MIGRATION_COMMANDS,
  weightOf,
  type MigrationCommand,
  type MigrationPlan,
  type MigrationResult,
  type MigrationState,
  type ObservationResult,
} from '../../../../src/operator/migration/state-machine.js';

const SECOND = 1000;
const T0 = Date.parse('2025-06-01T10:00:00Z');

const PLAN: MigrationPlan = {
  steps: [5, 25, 50, 100],
  intervalMs: 60 * SECOND,
  analysis: { maxErrorRatioIncrease: 0.05, confidence: 0.95, minRequests: 100 },
  onFailure: 'Rollback',
  newBackends: ['orders'],
};

function seen(
  newRequests: number,
  newErrors = 0,
  monolithRequests = newRequests * 4,
  monolithErrors = 0,
): ObservationResult {
  return {
    ok: true,
    observations: {
      newService: { requests: newRequests, errors: newErrors },
      monolith: { requests: monolithRequests, errors: monolithErrors },
    },
  };
}

const DOWN: ObservationResult = { ok: false, reason: 'Prometheus unreachable: ECONNREFUSED' };

/** A migration at a step, started `ago` ms before T0 + at. */
function at(step: number, sinceMs = T0, plan = PLAN): MigrationState {
  return {
    phase: 'Progressing',
    step,
    weight: plan.steps[step] ?? 0,
    since: new Date(sinceMs).toISOString(),
    checkedAt: new Date(sinceMs).toISOString(),
    message: '',
    plan: { steps: [...plan.steps], newBackends: [...plan.newBackends] },
  };
}

describe('transitions', () => {
  test('a new migration waits at 0% until the source sees the route, then takes step 1', () => {
    const blind = advance(PLAN, undefined, DOWN, T0);
    expect(blind.state).toMatchObject({ phase: 'Pending', weight: 0 });
    expect(blind.state.message).toBe('not started: Prometheus unreachable: ECONNREFUSED');
    expect(blind.events).toEqual([]);
    expect(blind.wakeAt).toBe(T0 + 30 * SECOND);

    const started = advance(PLAN, blind.state, seen(0), T0 + 30 * SECOND);
    expect(started.state).toMatchObject({ phase: 'Progressing', step: 0, weight: 5 });
    expect(started.state.since).toBe('2025-06-01T10:00:30.000Z');
    expect(started.weight).toBe(5);
    expect(started.events).toEqual([
      expect.objectContaining({ type: 'Normal', reason: 'MigrationStarted' }),
    ]);
  });

  test('a passing step is not promoted before its interval ends', () => {
    const early = advance(PLAN, at(0), seen(500), T0 + 30 * SECOND);
    expect(early.state).toMatchObject({ phase: 'Progressing', step: 0, weight: 5 });
    expect(early.state.lastAnalysis).toMatchObject({ verdict: 'pass', requests: 500 });
    expect(early.events).toEqual([]);
    expect(early.wakeAt).toBe(T0 + 60 * SECOND);
  });

  test('at the end of the interval a pass steps up by one, with a fresh clock', () => {
    const up = advance(PLAN, at(0), seen(500), T0 + 60 * SECOND);
    expect(up.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(up.state.since).toBe('2025-06-01T10:01:00.000Z');
    expect(up.events).toEqual([
      {
        type: 'Normal',
        reason: 'MigrationStepUp',
        message: expect.stringMatching(/^step 2\/4 \(25%\): 5% → 25%: pass: new-service 5xx 0%/),
      },
    ]);
  });

  test('too few requests at the end of the interval: WaitingForTraffic, saying how many more', () => {
    const waiting = advance(PLAN, at(1), seen(60), T0 + 60 * SECOND);
    expect(waiting.state).toMatchObject({ phase: 'WaitingForTraffic', step: 1, weight: 25 });
    expect(waiting.state.lastAnalysis?.reason).toBe(
      'inconclusive: waiting for 40 more requests (60 of minRequests 100 on the new service)',
    );
    expect(waiting.state.message).toContain('waiting for 40 more requests');
    expect(waiting.events).toEqual([]);
    // Judged again at the next check, over the whole window since the step began.
    expect(analysisDue(PLAN, waiting.state, T0 + 89 * SECOND)).toBe(false);
    expect(analysisDue(PLAN, waiting.state, T0 + 90 * SECOND)).toBe(true);
    const later = advance(PLAN, waiting.state, seen(120), T0 + 90 * SECOND);
    expect(later.state).toMatchObject({ phase: 'Progressing', step: 2, weight: 50 });
  });

  test('enough requests but ratios too close to call: WaitingForTraffic with the projection', () => {
    const close = advance(PLAN, at(1), seen(120, 3, 480, 0), T0 + 60 * SECOND);
    expect(close.state.phase).toBe('WaitingForTraffic');
    expect(close.state.lastAnalysis?.reason).toMatch(
      /^inconclusive: waiting for \d+ more requests \(new-service 5xx 2\.5% \(3\/120\)/,
    );
  });

  test('a failing step rolls back to 0% at once, before its interval ends', () => {
    const failed = advance(PLAN, at(1), seen(100, 20, 400, 0), T0 + 30 * SECOND);
    expect(failed.state).toMatchObject({ phase: 'RolledBack', weight: 0 });
    expect(failed.weight).toBe(0);
    expect(failed.state.lastAnalysis?.verdict).toBe('fail');
    expect(failed.events).toEqual([
      {
        type: 'Warning',
        reason: 'MigrationRolledBack',
        message: expect.stringMatching(
          /^rolled back from step 2\/4 \(25%\) to 0%: fail: new-service 5xx 20% \(20\/100\)/,
        ),
      },
    ]);
    expect(failed.wakeAt).toBeUndefined();
  });

  test('onFailure: Pause holds the weight of the failing step until a user acts', () => {
    const plan = { ...PLAN, onFailure: 'Pause' as const };
    const failed = advance(plan, at(1), seen(100, 20), T0 + 30 * SECOND);
    expect(failed.state).toMatchObject({ phase: 'Paused', pausedBy: 'failure', weight: 25 });
    expect(failed.events[0]).toMatchObject({ type: 'Warning', reason: 'MigrationPaused' });
    expect(failed.wakeAt).toBeUndefined();
  });

  test('unavailable observations pause the step (never promote blind) and resume it alone', () => {
    const blind = advance(PLAN, at(1), DOWN, T0 + 60 * SECOND);
    expect(blind.state).toMatchObject({ phase: 'Paused', pausedBy: 'observations', weight: 25 });
    expect(blind.state.message).toBe(
      'paused at 25%: observations unavailable: Prometheus unreachable: ECONNREFUSED; the weight stays until they return',
    );
    expect(blind.state.since).toBe(at(1).since);
    expect(blind.events).toEqual([expect.objectContaining({ reason: 'MigrationPaused' })]);
    const still = advance(PLAN, blind.state, DOWN, T0 + 90 * SECOND);
    expect(still.state.phase).toBe('Paused');
    expect(still.events).toEqual([]);
    const back = advance(PLAN, still.state, seen(500), T0 + 120 * SECOND);
    expect(back.state).toMatchObject({ phase: 'Progressing', step: 2, weight: 50 });
    expect(back.events.map((e) => e.reason)).toEqual(['MigrationResumed', 'MigrationStepUp']);
  });

  test('a pass at the step before the last promotes: the plan is done', () => {
    const promoted = advance(PLAN, at(2), seen(500), T0 + 60 * SECOND);
    expect(promoted.state).toMatchObject({ phase: 'Promoted', step: 3, weight: 100 });
    expect(promoted.events).toEqual([
      expect.objectContaining({ type: 'Normal', reason: 'MigrationPromoted' }),
    ]);
    expect(promoted.wakeAt).toBeUndefined();
    expect(advance(PLAN, promoted.state, seen(0, 0), T0 + 10 * 60 * SECOND).state.phase).toBe(
      'Promoted',
    );
  });

  test('the latency and shadow gates join the verdict when set', () => {
    const plan: MigrationPlan = {
      ...PLAN,
      analysis: { ...PLAN.analysis, maxLatencyRatio: 1.5, maxShadowMismatchRatio: 0.01 },
    };
    const observations = (p99: number, mismatch: number): ObservationResult => {
      const o = (seen(500) as { observations: StepObservations }).observations;
      return {
        ok: true,
        observations: {
          ...o,
          latency: {
            newService: { p99Seconds: p99, count: 500 },
            monolith: { p99Seconds: 0.1, count: 2000 },
          },
          shadow: { match: 2000 - mismatch, mismatch, noise: 0, error: 3, skipped: 9 },
        },
      };
    };
    const slow = advance(plan, at(1), observations(0.2, 0), T0 + 60 * SECOND);
    expect(slow.state.phase).toBe('RolledBack');
    expect(slow.state.lastAnalysis).toMatchObject({ verdict: 'fail', latencyRatio: 2 });
    expect(slow.state.lastAnalysis?.reason).toContain('p99 200 ms vs the monolith');
    const different = advance(plan, at(1), observations(0.1, 100), T0 + 60 * SECOND);
    expect(different.state.lastAnalysis).toMatchObject({ verdict: 'fail', mismatchRatio: 0.05 });
    const good = advance(plan, at(1), observations(0.1, 0), T0 + 60 * SECOND);
    expect(good.state).toMatchObject({ phase: 'Progressing', step: 2 });
  });
});

describe('commands (the annotation figway migration writes)', () => {
  test('pause, then resume with a fresh clock', () => {
    const paused = advance(PLAN, at(1), undefined, T0 + 10 * SECOND, 'pause 1');
    expect(paused.state).toMatchObject({ phase: 'Paused', pausedBy: 'user', weight: 25 });
    expect(paused.state.command).toBe('pause 1');
    expect(paused.wakeAt).toBeUndefined();
    // The annotation stays: the command acted once.
    expect(advance(PLAN, paused.state, undefined, T0 + 20 * SECOND, 'pause 1').events).toEqual([]);
    const resumed = advance(PLAN, paused.state, undefined, T0 + 300 * SECOND, 'resume 2');
    expect(resumed.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(resumed.state.since).toBe(new Date(T0 + 300 * SECOND).toISOString());
  });

  test('promote takes exactly one step, without a verdict', () => {
    const next = advance(PLAN, at(0), undefined, T0 + SECOND, 'promote a');
    expect(next.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(next.events[0]?.message).toContain('promoted by a user');
    const last = advance(PLAN, at(2), undefined, T0 + SECOND, 'promote b');
    expect(last.state).toMatchObject({ phase: 'Promoted', weight: 100 });
  });

  test('abort rolls back to 0% from anywhere that is not finished', () => {
    for (const state of [at(0), at(2), advance(PLAN, undefined, DOWN, T0).state]) {
      const aborted = advance(PLAN, state, undefined, T0 + SECOND, 'abort x');
      expect(aborted.state).toMatchObject({ phase: 'RolledBack', weight: 0 });
      expect(aborted.events[0]?.reason).toBe('MigrationRolledBack');
    }
  });

  test('a command left over from an earlier migration does not act on a new one', () => {
    const fresh = advance(PLAN, undefined, seen(0), T0, 'abort old');
    expect(fresh.state).toMatchObject({ phase: 'Progressing', weight: 5, command: 'abort old' });
    expect(fresh.events.map((e) => e.reason)).toEqual(['MigrationStarted']);
  });

  test('resume after a rollback starts again from Pending', () => {
    const rolledBack = advance(PLAN, at(1), undefined, T0, 'abort x').state;
    const again = advance(PLAN, rolledBack, undefined, T0 + SECOND, 'resume y');
    expect(again.state).toMatchObject({ phase: 'Pending', weight: 0 });
  });

  test.each([
    ['promote', 'Promoted', 'already promoted'],
    ['resume', 'Progressing', 'not paused'],
    ['frobnicate', 'Progressing', 'unknown command: use one of promote, pause, resume, abort'],
  ])('%s on a %s migration is ignored with a Warning', (verb, phase, why) => {
    const state =
      phase === 'Promoted' ? advance(PLAN, at(2), seen(500), T0 + 60 * SECOND).state : at(1);
    const result = advance(PLAN, state, undefined, T0 + 70 * SECOND, `${verb} 1`);
    expect(result.state.phase).toBe(phase);
    expect(result.state.command).toBe(`${verb} 1`);
    expect(result.events).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'MigrationCommandIgnored' }),
    ]);
    expect(result.events[0]?.message).toContain(why);
  });
});

describe('editing the plan mid-way', () => {
  test('analysis, interval and onFailure edits keep the step and its clock', () => {
    const plan = { ...PLAN, intervalMs: 120 * SECOND, onFailure: 'Pause' as const };
    const result = advance(plan, at(1), seen(500), T0 + 60 * SECOND);
    expect(result.state).toMatchObject({ phase: 'Progressing', step: 1, since: at(1).since });
    expect(result.events).toEqual([]);
  });

  test('new steps: continue at the highest one at or below the current weight', () => {
    const plan = { ...PLAN, steps: [10, 20, 40, 80, 100] };
    const result = advance(plan, at(1), undefined, T0 + 30 * SECOND);
    expect(result.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 20 });
    expect(result.state.since).toBe(new Date(T0 + 30 * SECOND).toISOString());
    expect(result.events[0]).toMatchObject({
      reason: 'MigrationReplanned',
      message:
        'steps changed from [5, 25, 50, 100] to [10, 20, 40, 80, 100]: continuing at step 2/5 (20%)',
    });
    // Below every new step: the first step.
    const below = advance({ ...PLAN, steps: [30, 100] }, at(1), undefined, T0);
    expect(below.state).toMatchObject({ phase: 'Progressing', step: 0, weight: 30 });
  });

  test('another new-service backend restarts from 0%', () => {
    const plan = { ...PLAN, newBackends: ['orders-v2'] };
    const result = advance(plan, at(2), undefined, T0);
    expect(result.state).toMatchObject({ phase: 'Pending', weight: 0 });
    expect(result.events[0]).toMatchObject({
      reason: 'MigrationRestarted',
      message:
        "restarted from 0%: the route's new-service backends changed from [orders] to [orders-v2]",
    });
  });

  test('weightOf: the weight follows phase and step', () => {
    expect(weightOf(PLAN, 'Pending', 2)).toBe(0);
    expect(weightOf(PLAN, 'RolledBack', 2)).toBe(0);
    expect(weightOf(PLAN, 'Paused', 2)).toBe(50);
    expect(weightOf(PLAN, 'Promoted', 3)).toBe(100);
  });
});

// ---- properties --------------------------------------------------------------------

const planArb: fc.Arbitrary<MigrationPlan> = fc
  .record({
    steps: fc.uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 6 }),
    intervalSeconds: fc.integer({ min: 10, max: 600 }),
    tolerance: fc.constantFrom(0.001, 0.01, 0.05, 0.2),
    confidence: fc.constantFrom(0.8, 0.95, 0.99),
    minRequests: fc.integer({ min: 1, max: 300 }),
    onFailure: fc.constantFrom('Rollback' as const, 'Pause' as const),
  })
  .map((p) => ({
    steps: [...p.steps].sort((a, b) => a - b),
    intervalMs: p.intervalSeconds * SECOND,
    analysis: {
      maxErrorRatioIncrease: p.tolerance,
      confidence: p.confidence,
      minRequests: p.minRequests,
    },
    onFailure: p.onFailure,
    newBackends: ['orders'],
  }));

interface Tick {
  /** Time passing before this call. */
  dtMs: number;
  /** Traffic in that time. */
  newRequests: number;
  newErrorShare: number;
  monolithRequests: number;
  monolithErrorShare: number;
  sourceUp: boolean;
  command: MigrationCommand | 'none';
}

const tickArb: fc.Arbitrary<Tick> = fc.record({
  dtMs: fc.integer({ min: 0, max: 120 * SECOND }),
  newRequests: fc.integer({ min: 0, max: 200 }),
  newErrorShare: fc.constantFrom(0, 0, 0.01, 0.3),
  monolithRequests: fc.integer({ min: 0, max: 800 }),
  monolithErrorShare: fc.constantFrom(0, 0.01),
  sourceUp: fc.constantFrom(true, true, true, false),
  command: fc.constantFrom('none', 'none', 'none', 'none', 'none', ...MIGRATION_COMMANDS),
});

interface Step {
  before: MigrationState | undefined;
  result: MigrationResult;
  tick: Tick;
  now: number;
  window: { newRequests: number };
}

/**
 * Runs the machine the way the operator does: observations only when due, counting the
 * traffic since the step's clock started; optionally through a JSON round trip of the
 * state between calls (what status storage does).
 */
function run(
  plan: MigrationPlan,
  ticks: readonly Tick[],
  store: (s: MigrationState) => MigrationState = (s) => s,
): Step[] {
  let state: MigrationState | undefined;
  let now = T0;
  let since = Number.NaN;
  let window = { newRequests: 0, newErrors: 0, monolithRequests: 0, monolithErrors: 0 };
  let commandCount = 0;
  const steps: Step[] = [];
  for (const tick of ticks) {
    now += tick.dtMs;
    window.newRequests += tick.newRequests;
    window.newErrors += Math.round(tick.newRequests * tick.newErrorShare);
    window.monolithRequests += tick.monolithRequests;
    window.monolithErrors += Math.round(tick.monolithRequests * tick.monolithErrorShare);
    const observations: ObservationResult | undefined = analysisDue(plan, state, now)
      ? tick.sourceUp
        ? seen(window.newRequests, window.newErrors, window.monolithRequests, window.monolithErrors)
        : DOWN
      : undefined;
    const command = tick.command === 'none' ? state?.command : `${tick.command} ${++commandCount}`;
    const before = state;
    const result = advance(plan, state, observations, now, command);
    steps.push({ before, result, tick, now, window: { newRequests: window.newRequests } });
    state = store(result.state);
    const started = Date.parse(state.since);
    if (started !== since) {
      // A new clock: the window starts empty (traffic is sent between calls).
      since = started;
      window = { newRequests: 0, newErrors: 0, monolithRequests: 0, monolithErrors: 0 };
    }
  }
  return steps;
}

/** Position in the plan: -1 at 0% (Pending, RolledBack), else the step index. */
function level(state: MigrationState | undefined): number {
  if (state === undefined || state.phase === 'Pending' || state.phase === 'RolledBack') return -1;
  return state.step;
}

const runs = fc.tuple(planArb, fc.array(tickArb, { minLength: 1, maxLength: 60 }));

describe('properties', () => {
  test('never skips a step up: at most one step per decision, commands included', () => {
    fc.assert(
      fc.property(runs, ([plan, ticks]) =>
        run(plan, ticks).every((s) => level(s.result.state) <= level(s.before) + 1),
      ),
    );
  });

  test('the weight is always 0 or a step of the plan, and the one phase and step say', () => {
    fc.assert(
      fc.property(runs, ([plan, ticks]) =>
        run(plan, ticks).every(
          (s) =>
            s.result.weight === s.result.state.weight &&
            s.result.weight === weightOf(plan, s.result.state.phase, s.result.state.step) &&
            (s.result.weight === 0 || plan.steps.includes(s.result.weight)),
        ),
      ),
    );
  });

  test('never promotes (or steps up) on its own before minRequests and the interval are both met', () => {
    fc.assert(
      fc.property(
        runs.map(
          ([plan, ticks]) =>
            [plan, ticks.map((t) => ({ ...t, command: 'none' as const }))] as const,
        ),
        ([plan, ticks]) =>
          run(plan, ticks).every((s) => {
            const before = s.before;
            if (before === undefined || level(before) < 0) return true;
            if (level(s.result.state) <= level(before)) return true;
            const elapsed = s.now - Date.parse(before.since);
            return (
              elapsed >= plan.intervalMs &&
              s.window.newRequests >= plan.analysis.minRequests &&
              s.result.state.lastAnalysis?.verdict === 'pass'
            );
          }),
      ),
    );
  });

  test('a rollback always reaches 0% and stays there until a user resumes', () => {
    fc.assert(
      fc.property(runs, ([plan, ticks]) => {
        let rolledBack = false;
        return run(plan, ticks).every((s) => {
          const state = s.result.state;
          if (s.result.events.some((e) => e.reason === 'MigrationRolledBack')) {
            rolledBack = true;
            if (s.result.weight !== 0 || state.phase !== 'RolledBack') return false;
          } else if (rolledBack) {
            if (s.tick.command === 'resume') rolledBack = false;
            else if (s.result.weight !== 0) return false;
          }
          if (s.tick.command === 'abort' && s.before !== undefined) {
            const finished = s.before.phase === 'Promoted' || s.before.phase === 'RolledBack';
            if (!finished && s.result.weight !== 0) return false;
          }
          return true;
        });
      }),
    );
  });

  test('resumable: a state stored in status between calls (a restart each time) decides the same', () => {
    fc.assert(
      fc.property(runs, ([plan, ticks]) => {
        const live = run(plan, ticks);
        const restarted = run(plan, ticks, (s) =>
          MigrationStatusSchema.parse(JSON.parse(JSON.stringify(s))),
        );
        // Key order aside (status storage sorts nothing), every result is the same.
        return live.every(
          (s, i) => canonicalJson(s.result) === canonicalJson(restarted[i]?.result),
        );
      }),
    );
  });
});
