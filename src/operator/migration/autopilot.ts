// One reconcile's migration step for one ApiRoute: for each route with a `migration`,
// read its state from status, the user's command from its annotation, the observations
// when a check is due, and advance the state machine. The only I/O is the observation
// source; writing the weights, the status and the Events is the reconciler's.
import {
  DEFAULT_NAMESPACE,
  migrationCommandAnnotation,
  MigrationStatusSchema,
  type ApiRoute,
  type ApiRouteStatus,
} from '../../api/index.js';
import { planFromRoute } from './plan.js';
import type { ObservationSource } from './source.js';
import {
  advance,
  analysisDue,
  type MigrationEvent,
  type MigrationState,
  type ObservationResult,
} from './state-machine.js';

export interface RouteMigrationEvent extends MigrationEvent {
  route: string;
}

export interface MigrationStep {
  /** Route name → its new state, for status.routes[].migration. */
  states: Map<string, MigrationState>;
  /** Route name → effective new-service weight, for the route table. */
  weights: Map<string, number>;
  events: RouteMigrationEvent[];
  /** When the earliest route wants to be judged again (ms); undefined: none. */
  wakeAt: number | undefined;
}

/** The state a route's status holds, if it is one (a hand-edited status may not be). */
export function storedState(
  status: ApiRouteStatus | undefined,
  route: string,
): MigrationState | undefined {
  const stored = status?.routes?.find((r) => r.name === route)?.migration;
  const parsed = MigrationStatusSchema.safeParse(stored);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Advances every migrating route of `apiRoute`. `previous` gives each route's stored
 * state (from status, or what this operator wrote last when its cache lags behind).
 */
export async function advanceMigrations(
  apiRoute: ApiRoute,
  previous: (route: string) => MigrationState | undefined,
  source: ObservationSource,
  now: number,
): Promise<MigrationStep> {
  const step: MigrationStep = {
    states: new Map(),
    weights: new Map(),
    events: [],
    wakeAt: undefined,
  };
  const annotations = apiRoute.metadata.annotations ?? {};
  const routes = apiRoute.spec.routes.flatMap((route) => {
    const plan = planFromRoute(route);
    return plan ? [{ route, plan }] : [];
  });
  const results = await Promise.all(
    routes.map(async ({ route, plan }) => {
      const state = previous(route.name);
      let observations: ObservationResult | undefined;
      if (analysisDue(plan, state, now)) {
        const since = state === undefined ? now : Date.parse(state.since);
        observations = await source.observe({
          namespace: apiRoute.metadata.namespace ?? DEFAULT_NAMESPACE,
          apiRoute: apiRoute.metadata.name,
          route: route.name,
          newBackends: plan.newBackends,
          fromMs: Number.isFinite(since) ? since : now,
          toMs: now,
          latency: plan.analysis.maxLatencyRatio !== undefined,
          shadow: plan.analysis.maxShadowMismatchRatio !== undefined,
        });
      }
      const command = annotations[migrationCommandAnnotation(route.name)];
      return { name: route.name, result: advance(plan, state, observations, now, command) };
    }),
  );
  for (const { name, result } of results) {
    step.states.set(name, result.state);
    step.weights.set(name, result.weight);
    step.events.push(...result.events.map((e) => ({ ...e, route: name })));
    if (result.wakeAt !== undefined)
      step.wakeAt = Math.min(step.wakeAt ?? Number.POSITIVE_INFINITY, result.wakeAt);
  }
  return step;
}
