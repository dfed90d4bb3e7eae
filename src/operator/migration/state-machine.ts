// The migration of one route as a pure function:
//   advance(plan, state, observations, now, command) → { state, weight, events, wakeAt }
// The state is what status.routes[].migration holds, so whichever operator replica leads
// next continues from it: the step's clock (`since`) and therefore the window its counts
// are read over survive restarts and leader changes. Nothing here reads a clock or does I/O.
//
// Phases and their weight (the new-service share the route table gets):
//   Pending            0%           waiting until the observation source sees the route;
//                                   traffic never moves before it can be measured
//   Progressing        steps[step]  the step runs; judged every check, promoted only at
//                                   the end of its interval
//   WaitingForTraffic  steps[step]  the interval is over but the verdict is inconclusive
//                                   (too few requests); judged again every check
//   Paused             steps[step]  by a user, by a failed step (onFailure: Pause), or
//                                   because observations are unavailable (resumes alone)
//   Promoted           last step    the step before the last passed: the plan is done
//   RolledBack         0%           a step failed (onFailure: Rollback) or was aborted
//
// One transition per call, and a step up only ever to the next step: either a passing
// verdict after the interval with at least minRequests, or the user's `promote`.
//
// Editing the plan mid-way (documented in the README):
// - analysis, interval or onFailure: the current step continues with its clock; the new
//   settings apply from the next check.
// - steps: the migration continues at the highest new step at or below the weight it
//   serves now (never more traffic because of an edit; the first step if none is), with
//   a fresh clock. A RolledBack migration restarts from Pending.
// - the route's new-service backends (another service): everything known is about the
//   old one, so the migration restarts from Pending at 0%.
import type {
  MIGRATION_FAILURE_ACTIONS,
  MIGRATION_PAUSE_CAUSES,
  MIGRATION_PHASES,
  RouteMigrationStatus,
} from '../../api/index.js';
import { analyze, type AnalysisSettings, type StepObservations } from './analysis.js';

export type MigrationPhase = (typeof MIGRATION_PHASES)[number];
export type PauseCause = (typeof MIGRATION_PAUSE_CAUSES)[number];
export type FailureAction = (typeof MIGRATION_FAILURE_ACTIONS)[number];

export const MIGRATION_COMMANDS = ['promote', 'pause', 'resume', 'abort'] as const;
export type MigrationCommand = (typeof MIGRATION_COMMANDS)[number];

/** A route's migration plan: the API's `migration`, durations in ms, defaults applied. */
export interface MigrationPlan {
  /** New-service weight of each step, strictly ascending, at least two. */
  steps: readonly number[];
  /** Least time at a step before it is promoted. */
  intervalMs: number;
  analysis: AnalysisSettings;
  onFailure: FailureAction;
  /** Names of the route's new-service backends: another set is another migration. */
  newBackends: readonly string[];
}

/** What a state was computed for: a plan edit is detected against it. */
export type PlanBasis = MigrationState['plan'];

/**
 * One route's migration state: exactly what status.routes[].migration holds (the API's
 * schema is its single definition), so a state read back from status continues as it was.
 */
export type MigrationState = RouteMigrationStatus;

/** What the observation source returned for the current step window. */
export type ObservationResult =
  { ok: true; observations: StepObservations } | { ok: false; reason: string };

export const MIGRATION_EVENT_REASONS = {
  started: 'MigrationStarted',
  stepUp: 'MigrationStepUp',
  promoted: 'MigrationPromoted',
  paused: 'MigrationPaused',
  resumed: 'MigrationResumed',
  rolledBack: 'MigrationRolledBack',
  replanned: 'MigrationReplanned',
  restarted: 'MigrationRestarted',
  ignored: 'MigrationCommandIgnored',
} as const;

export interface MigrationEvent {
  type: 'Normal' | 'Warning';
  reason: (typeof MIGRATION_EVENT_REASONS)[keyof typeof MIGRATION_EVENT_REASONS];
  message: string;
}

export interface MigrationResult {
  state: MigrationState;
  /** The effective new-service weight for the route table. */
  weight: number;
  events: MigrationEvent[];
  /** When the machine next wants observations (ms); undefined: only a command moves it. */
  wakeAt: number | undefined;
}

/** How often a running step is judged: failures are acted on before the interval ends. */
export function checkEveryMs(plan: Pick<MigrationPlan, 'intervalMs'>): number {
  return Math.min(plan.intervalMs, 30_000);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function time(value: string | undefined, fallback: number): number {
  const parsed = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isFinite(parsed) ? parsed : fallback;
}

function basisOf(plan: MigrationPlan): PlanBasis {
  return { steps: [...plan.steps], newBackends: [...plan.newBackends].sort() };
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The weight a phase and step serve under a plan. */
export function weightOf(
  plan: Pick<MigrationPlan, 'steps'>,
  phase: MigrationPhase,
  step: number,
): number {
  if (phase === 'Pending' || phase === 'RolledBack') return 0;
  return plan.steps[Math.min(Math.max(step, 0), plan.steps.length - 1)] ?? 0;
}

function lastStep(plan: MigrationPlan): number {
  return plan.steps.length - 1;
}

function stepLabel(plan: MigrationPlan, step: number): string {
  return `step ${step + 1}/${plan.steps.length} (${weightOf(plan, 'Progressing', step)}%)`;
}

/** When the machine wants observations next; undefined when it waits for a command. */
export function nextCheckAt(
  plan: MigrationPlan,
  state: MigrationState | undefined,
): number | undefined {
  if (state === undefined) return Number.NEGATIVE_INFINITY;
  const every = checkEveryMs(plan);
  const checked = time(state.checkedAt, Number.NEGATIVE_INFINITY);
  switch (state.phase) {
    case 'Pending':
      return checked + every;
    case 'Progressing':
    case 'WaitingForTraffic': {
      const since = time(state.since, Number.NEGATIVE_INFINITY);
      const regular = Math.max(checked, since) + every;
      return state.phase === 'Progressing' ? Math.min(regular, since + plan.intervalMs) : regular;
    }
    case 'Paused':
      return state.pausedBy === 'observations' ? checked + every : undefined;
    case 'Promoted':
    case 'RolledBack':
      return undefined;
  }
}

/** Whether the caller should fetch observations before calling advance. */
export function analysisDue(
  plan: MigrationPlan,
  state: MigrationState | undefined,
  now: number,
): boolean {
  const at = nextCheckAt(plan, state);
  return at !== undefined && now >= at;
}

interface Next {
  state: MigrationState;
  events: MigrationEvent[];
}

function enter(
  plan: MigrationPlan,
  from: MigrationState,
  phase: MigrationPhase,
  step: number,
  now: number,
  message: string,
  extra: Partial<MigrationState> = {},
): MigrationState {
  return {
    plan: from.plan,
    ...(from.command !== undefined && { command: from.command }),
    ...(from.checkedAt !== undefined && { checkedAt: from.checkedAt }),
    // The verdict that led here (or the last one before a user's command) stays visible.
    ...(from.lastAnalysis !== undefined && { lastAnalysis: from.lastAnalysis }),
    phase,
    step,
    weight: weightOf(plan, phase, step),
    since: iso(now),
    message,
    ...extra,
  };
}

function pending(plan: MigrationPlan, now: number, message: string): MigrationState {
  return {
    phase: 'Pending',
    step: 0,
    weight: 0,
    since: iso(now),
    message,
    plan: basisOf(plan),
  };
}

/** Step up by one from `state` (the first step from Pending), or promote at the last. */
function stepUp(
  plan: MigrationPlan,
  state: MigrationState,
  now: number,
  why: string,
  extra: Partial<MigrationState> = {},
): Next {
  const to = state.phase === 'Pending' ? 0 : state.step + 1;
  if (to >= lastStep(plan)) {
    const weight = weightOf(plan, 'Promoted', lastStep(plan));
    return {
      state: enter(
        plan,
        state,
        'Promoted',
        lastStep(plan),
        now,
        `promoted to ${weight}%: ${why}`,
        extra,
      ),
      events: [
        {
          type: 'Normal',
          reason: MIGRATION_EVENT_REASONS.promoted,
          message: `promoted from ${state.weight}% to ${weight}%: ${why}`,
        },
      ],
    };
  }
  const started = state.phase === 'Pending';
  return {
    state: enter(
      plan,
      state,
      'Progressing',
      to,
      now,
      `${stepLabel(plan, to)} since ${iso(now)}`,
      extra,
    ),
    events: [
      {
        type: 'Normal',
        reason: started ? MIGRATION_EVENT_REASONS.started : MIGRATION_EVENT_REASONS.stepUp,
        message: `${stepLabel(plan, to)}: ${state.weight}% → ${weightOf(plan, 'Progressing', to)}%: ${why}`,
      },
    ],
  };
}

function rollBack(
  plan: MigrationPlan,
  state: MigrationState,
  now: number,
  why: string,
  extra: Partial<MigrationState> = {},
): Next {
  return {
    state: enter(plan, state, 'RolledBack', 0, now, `rolled back to 0%: ${why}`, extra),
    events: [
      {
        type: 'Warning',
        reason: MIGRATION_EVENT_REASONS.rolledBack,
        message: `rolled back from ${state.phase === 'Pending' ? 'Pending' : stepLabel(plan, state.step)} to 0%: ${why}`,
      },
    ],
  };
}

function pause(
  plan: MigrationPlan,
  state: MigrationState,
  now: number,
  by: PauseCause,
  why: string,
  extra: Partial<MigrationState> = {},
): Next {
  // A pause keeps the step's clock: its window still describes the weight in force.
  const paused = {
    ...enter(plan, state, 'Paused', state.step, now, `paused at ${state.weight}%: ${why}`, extra),
    since: state.since,
    pausedBy: by,
  };
  return {
    state: paused,
    events: [
      {
        type: 'Warning',
        reason: MIGRATION_EVENT_REASONS.paused,
        message: `paused at ${stepLabel(plan, state.step)}: ${why}`,
      },
    ],
  };
}

/** Re-bases a state computed for another plan; see the header comment. */
function replan(plan: MigrationPlan, state: MigrationState, now: number): Next {
  const basis = basisOf(plan);
  if (!sameList(state.plan.newBackends, basis.newBackends)) {
    const why = `the route's new-service backends changed from [${state.plan.newBackends.join(', ')}] to [${basis.newBackends.join(', ')}]`;
    return {
      state: {
        ...pending(plan, now, `restarted: ${why}`),
        ...(state.command !== undefined && { command: state.command }),
      },
      events: [
        {
          type: 'Normal',
          reason: MIGRATION_EVENT_REASONS.restarted,
          message: `restarted from 0%: ${why}`,
        },
      ],
    };
  }
  const rebased: MigrationState = { ...state, plan: basis };
  const why = `steps changed from [${state.plan.steps.join(', ')}] to [${basis.steps.join(', ')}]`;
  if (state.phase === 'Pending' || state.phase === 'RolledBack') {
    const restarted = state.phase === 'RolledBack';
    return {
      state: restarted
        ? {
            ...pending(plan, now, `restarted: ${why}`),
            ...(state.command !== undefined && { command: state.command }),
          }
        : rebased,
      events: [
        {
          type: 'Normal',
          reason: restarted ? MIGRATION_EVENT_REASONS.restarted : MIGRATION_EVENT_REASONS.replanned,
          message: restarted ? `restarted from 0%: ${why}` : why,
        },
      ],
    };
  }
  let step = 0;
  plan.steps.forEach((weight, index) => {
    if (weight <= state.weight) step = index;
  });
  const phase: MigrationPhase =
    step === lastStep(plan) ? 'Promoted' : state.phase === 'Paused' ? 'Paused' : 'Progressing';
  const message = `${why}: continuing at ${stepLabel(plan, step)}`;
  const next = {
    ...enter(plan, rebased, phase, step, now, message),
    ...(phase === 'Paused' && { pausedBy: state.pausedBy }),
  };
  return {
    state: next,
    events: [{ type: 'Normal', reason: MIGRATION_EVENT_REASONS.replanned, message }],
  };
}

function ignored(state: MigrationState, command: string, why: string): Next {
  return {
    state: { ...state, command },
    events: [
      {
        type: 'Warning',
        reason: MIGRATION_EVENT_REASONS.ignored,
        message: `${JSON.stringify(command)} ignored: ${why}`,
      },
    ],
  };
}

/** A user's command, from the annotation `figway migration …` writes: "<verb> <id>". */
function applyCommand(
  plan: MigrationPlan,
  state: MigrationState,
  command: string,
  now: number,
): Next {
  const verb = command.split(' ', 1)[0] ?? '';
  const consumed = { command };
  switch (verb as MigrationCommand) {
    case 'pause':
      if (state.phase === 'Pending')
        return ignored(state, command, 'it has not started (abort stops it at 0%)');
      if (state.phase === 'Promoted' || state.phase === 'RolledBack')
        return ignored(state, command, `the migration is ${state.phase}`);
      if (state.phase === 'Paused' && state.pausedBy !== 'observations')
        return ignored(state, command, 'already paused');
      return pause(plan, state, now, 'user', 'paused by a user', consumed);
    case 'resume':
      if (state.phase === 'RolledBack') {
        return {
          state: {
            ...pending(plan, now, 'resumed after a rollback: starting again from 0%'),
            ...consumed,
          },
          events: [
            {
              type: 'Normal',
              reason: MIGRATION_EVENT_REASONS.resumed,
              message: 'resumed after a rollback: starting again from 0%',
            },
          ],
        };
      }
      if (state.phase !== 'Paused' || state.pausedBy === 'observations')
        return ignored(
          state,
          command,
          state.phase === 'Paused'
            ? 'it resumes by itself when observations return'
            : `the migration is ${state.phase}, not paused`,
        );
      return {
        // A fresh clock: the step is judged on what happens after the resume.
        state: enter(
          plan,
          state,
          'Progressing',
          state.step,
          now,
          `${stepLabel(plan, state.step)} resumed at ${iso(now)}`,
          consumed,
        ),
        events: [
          {
            type: 'Normal',
            reason: MIGRATION_EVENT_REASONS.resumed,
            message: `resumed at ${stepLabel(plan, state.step)}`,
          },
        ],
      };
    case 'promote':
      if (state.phase === 'Promoted' || state.phase === 'RolledBack')
        return ignored(
          state,
          command,
          state.phase === 'RolledBack' ? 'it was rolled back: resume it first' : 'already promoted',
        );
      return stepUp(plan, state, now, 'promoted by a user', consumed);
    case 'abort':
      if (state.phase === 'Promoted' || state.phase === 'RolledBack')
        return ignored(state, command, `the migration is ${state.phase}`);
      return rollBack(plan, state, now, 'aborted by a user', consumed);
    default:
      return ignored(
        state,
        command,
        `unknown command: use one of ${MIGRATION_COMMANDS.join(', ')}`,
      );
  }
}

/** A due check with its observations. */
function judge(
  plan: MigrationPlan,
  state: MigrationState,
  observation: ObservationResult,
  now: number,
): Next {
  const checked = { ...state, checkedAt: iso(now) };
  if (!observation.ok) {
    if (state.phase === 'Pending')
      return { state: { ...checked, message: `not started: ${observation.reason}` }, events: [] };
    const why = `observations unavailable: ${observation.reason}; the weight stays until they return`;
    if (state.phase === 'Paused')
      return { state: { ...checked, message: `paused at ${state.weight}%: ${why}` }, events: [] };
    return pause(plan, checked, now, 'observations', why);
  }
  if (state.phase === 'Pending')
    return stepUp(plan, checked, now, 'the observation source sees the route');
  const analysis = analyze(plan.analysis, observation.observations);
  const judged: MigrationState = { ...checked, lastAnalysis: { ...analysis, at: iso(now) } };
  const events: MigrationEvent[] = [];
  let running = judged;
  if (state.phase === 'Paused') {
    // Paused only by missing observations (nothing else is due): back to the step it left.
    running = { ...judged, phase: 'Progressing' };
    delete running.pausedBy;
    events.push({
      type: 'Normal',
      reason: MIGRATION_EVENT_REASONS.resumed,
      message: `resumed at ${stepLabel(plan, state.step)}: observations are back`,
    });
  }
  const prefixed = (next: Next): Next => ({
    state: next.state,
    events: [...events, ...next.events],
  });
  if (analysis.verdict === 'fail') {
    return prefixed(
      plan.onFailure === 'Rollback'
        ? rollBack(plan, running, now, analysis.reason)
        : pause(plan, running, now, 'failure', analysis.reason),
    );
  }
  const elapsed = now - time(state.since, now);
  if (elapsed < plan.intervalMs) {
    return prefixed({
      state: { ...running, message: `${stepLabel(plan, state.step)}: ${analysis.reason}` },
      events: [],
    });
  }
  if (analysis.verdict === 'pass') return prefixed(stepUp(plan, running, now, analysis.reason));
  return prefixed({
    state: {
      ...running,
      phase: 'WaitingForTraffic',
      message: `${stepLabel(plan, state.step)}: ${analysis.reason}`,
    },
    events: [],
  });
}

/**
 * One decision for one route. `observations` are those of the window [state.since, now],
 * fetched because analysisDue said so (undefined: not fetched, nothing is judged);
 * `command` is the current value of the route's command annotation.
 */
export function advance(
  plan: MigrationPlan,
  current: MigrationState | undefined,
  observations: ObservationResult | undefined,
  now: number,
  command?: string,
): MigrationResult {
  const events: MigrationEvent[] = [];
  // A new migration takes the annotation as already consumed: a command left over from an
  // earlier migration of the route must not abort (or promote) this one.
  let state = current ?? {
    ...pending(plan, now, 'waiting for the observation source to see the route'),
    ...(command !== undefined && { command }),
  };
  const basis = basisOf(plan);
  if (
    !sameList(state.plan.steps, basis.steps) ||
    !sameList(state.plan.newBackends, basis.newBackends)
  ) {
    const next = replan(plan, state, now);
    state = next.state;
    events.push(...next.events);
  }
  let next: Next | undefined;
  if (command !== undefined && command !== state.command) {
    next = applyCommand(plan, state, command, now);
  } else if (observations !== undefined && analysisDue(plan, state, now)) {
    next = judge(plan, state, observations, now);
  }
  if (next) {
    state = next.state;
    events.push(...next.events);
  }
  // The weight always follows from phase and step: a hand-edited status cannot skew it.
  state = { ...state, weight: weightOf(plan, state.phase, state.step) };
  return { state, weight: state.weight, events, wakeAt: nextCheckAt(plan, state) };
}
