// What `figway status` prints for one ApiRoute: per route the configured, effective and
// observed share of the new service with the error ratios of both sides, then the
// conditions and the recent Events, as `kubectl argo rollouts get rollout` shows a
// rollout. Pure: the command (status-command.ts) gathers the inputs.
import type { ApiRouteStatus } from '../api/index.js';
import { percent } from './migration/analysis.js';
import type { ErrorCounts } from './migration/statistics.js';
import { ago } from './migration/cli.js';
import type { ObservationResult } from './migration/state-machine.js';

/** The ApiRoute as `figway status` reads it from the API server: nothing is trusted. */
export interface StatusApiRoute {
  metadata: { name: string; namespace?: string; generation?: number };
  spec?: {
    routes?: {
      name: string;
      backends?: { monolith?: boolean; weight?: number }[];
      migration?: unknown;
    }[];
  };
  status?: ApiRouteStatus;
}

export interface StatusEvent {
  type: string;
  reason: string;
  message: string;
  /** When it was last seen, ms since the epoch. */
  lastMs: number;
  count: number;
}

export interface StatusInput {
  apiRoute: StatusApiRoute;
  /** Most recent last. */
  events: readonly StatusEvent[];
  /** From --prometheus-url: what each route did over `window`. */
  observed?: { source: string; window: string; routes: ReadonlyMap<string, ObservationResult> };
  nowMs: number;
}

/** At most this many Events, the most recent. */
export const STATUS_EVENTS = 10;

/** The share of the weights that goes to new-service backends, as the spec says. */
export function configuredPercent(backends: readonly { monolith?: boolean; weight?: number }[]) {
  let total = 0;
  let newService = 0;
  for (const b of backends) {
    total += b.weight ?? 0;
    if (b.monolith !== true) newService += b.weight ?? 0;
  }
  return total === 0 ? 0 : Math.round((newService / total) * 100);
}

function ratio(side: ErrorCounts): string {
  return side.requests === 0 ? '-' : `${percent(side.errors / side.requests)} of ${side.requests}`;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function routeRows(input: StatusInput): { rows: string[][]; notes: string[] } {
  const { apiRoute, observed } = input;
  const statusRoutes = apiRoute.status?.routes ?? [];
  const rows = [
    ['ROUTE', 'CONFIGURED', 'EFFECTIVE', 'OBSERVED', '5XX NEW', '5XX MONOLITH', 'MIGRATION'],
  ];
  const notes: string[] = [];
  for (const route of apiRoute.spec?.routes ?? []) {
    const inStatus = statusRoutes.find((r) => r.name === route.name);
    const migration = inStatus?.migration;
    const effective = migration?.weight ?? inStatus?.newServicePercent;
    let observedShare = '-';
    let newErrors = '-';
    let monolithErrors = '-';
    const seen = observed?.routes.get(route.name);
    if (seen?.ok === true) {
      const { newService, monolith } = seen.observations;
      const all = newService.requests + monolith.requests;
      observedShare = all === 0 ? 'no traffic' : percent(newService.requests / all);
      newErrors = ratio(newService);
      monolithErrors = ratio(monolith);
    } else if (seen?.ok === false) {
      observedShare = 'unknown';
      notes.push(`${route.name}: not observed: ${seen.reason}`);
    } else if (migration?.lastAnalysis) {
      // Without Prometheus, the last verdict's ratios are the newest observation there is.
      const a = migration.lastAnalysis;
      newErrors = `${percent(a.newErrorRatio)} of ${a.requests}`;
      monolithErrors = percent(a.monolithErrorRatio);
    }
    const step =
      migration === undefined
        ? route.migration === undefined
          ? '-'
          : 'not started'
        : `${migration.phase}${migration.pausedBy ? ` (${migration.pausedBy})` : ''} step ${migration.step + 1}/${migration.plan.steps.length}`;
    rows.push([
      route.name,
      `${configuredPercent(route.backends ?? [])}%`,
      effective === undefined ? 'not applied' : `${effective}%`,
      observedShare,
      newErrors,
      monolithErrors,
      step,
    ]);
    if (migration) notes.push(`${route.name}: ${migration.message}`);
    if (inStatus?.shadow) {
      const s = inStatus.shadow;
      notes.push(
        `${route.name}: shadow: ${percent(s.mismatchRatio)} of ${s.requests} comparisons differ${s.topFields.length > 0 ? ` (${s.topFields.join(', ')})` : ''}`,
      );
    }
  }
  return { rows, notes };
}

/** The text `figway status` prints for one ApiRoute. Pure. */
export function formatStatus(input: StatusInput): string {
  const { apiRoute, nowMs } = input;
  const { name, namespace = 'default', generation } = apiRoute.metadata;
  const status = apiRoute.status ?? {};
  const lines = [`ApiRoute ${namespace}/${name}`];
  const observedGeneration = status.observedGeneration;
  if (generation !== undefined)
    lines.push(
      `  generation  ${generation}${observedGeneration === generation ? '' : ` (the operator last acted on ${observedGeneration ?? 'none'})`}`,
    );
  if (status.gateway?.service !== undefined)
    lines.push(
      `  gateway     ${status.gateway.service}: ${status.gateway.readyReplicas ?? 0} ready`,
    );
  if (status.monolith !== undefined) lines.push(`  monolith    ${status.monolith}`);
  lines.push(
    `  observed    ${input.observed ? `${input.observed.source}, last ${input.observed.window}` : 'from status (last migration verdict); --prometheus-url for live traffic'}`,
  );

  const { rows, notes } = routeRows(input);
  lines.push('', ...table(rows));
  if (notes.length > 0) lines.push('', ...notes.map((n) => `  ${n}`));

  const conditions = status.conditions ?? [];
  lines.push('', 'CONDITIONS');
  if (conditions.length === 0) lines.push('  none yet (the operator has not reconciled it)');
  else
    lines.push(
      ...table(
        conditions.map((c) => [
          `  ${c.type}`,
          c.status,
          c.reason,
          Number.isNaN(Date.parse(c.lastTransitionTime))
            ? ''
            : ago(Date.parse(c.lastTransitionTime), nowMs),
          c.message,
        ]),
      ),
    );

  const events = input.events.slice(-STATUS_EVENTS);
  lines.push('', 'EVENTS');
  if (events.length === 0) lines.push('  none');
  else
    lines.push(
      ...table(
        events.map((e) => [
          `  ${ago(e.lastMs, nowMs)}`,
          e.type,
          e.reason,
          `${e.message}${e.count > 1 ? ` (x${e.count})` : ''}`,
        ]),
      ),
    );
  return `${lines.join('\n')}\n`;
}
