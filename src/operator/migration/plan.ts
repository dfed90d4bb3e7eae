// A route's `migration` as the state machine reads it: durations in milliseconds, the
// new-service backends by the names metrics and the route table give them.
import { backendName, durationToMs, type Route } from '../../api/index.js';
import type { MigrationPlan } from './state-machine.js';

/** The plan of a route with a validated `migration`; undefined without one. */
export function planFromRoute(route: Route): MigrationPlan | undefined {
  const migration = route.migration;
  if (migration === undefined) return undefined;
  const { maxLatencyRatio, maxShadowMismatchRatio, ...analysis } = migration.analysis;
  return {
    steps: migration.steps,
    intervalMs: durationToMs(migration.interval),
    analysis: {
      ...analysis,
      ...(maxLatencyRatio !== undefined && { maxLatencyRatio }),
      ...(maxShadowMismatchRatio !== undefined && { maxShadowMismatchRatio }),
    },
    onFailure: migration.onFailure,
    newBackends: route.backends.filter((b) => b.monolith !== true).map(backendName),
  };
}
