// `figway migration status|promote|pause|resume|abort NAME [ROUTE] [-n NS]`, also the
// kubectl plugin `kubectl figway migration …`. It acts through the API server only: it
// reads the ApiRoute (status says where each migration is) and commands one by the
// route's annotation migration.figway.dev/<route> = "<verb> <time>", which the operator
// acts on once and records in status. Spec weights are never touched, so GitOps keeps
// owning the spec.
import { parseArgs } from 'node:util';
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  GROUP,
  migrationCommandAnnotation,
  PLURAL,
  VERSION,
  type ApiRouteStatus,
} from '../../api/index.js';
import { describeApiError } from '../../common/api-error.js';
import { loadKubeConfig } from '../../common/kube-config.js';
import { percent } from './analysis.js';
import { storedState } from './autopilot.js';
import { MIGRATION_COMMANDS, type MigrationCommand } from './state-machine.js';

export const MIGRATION_USAGE = `usage: figway migration VERB NAME [ROUTE] [-n NAMESPACE] [--kubeconfig FILE]
       (or: kubectl figway migration …)

  status    where each route's migration is, its last verdict with counts, and why
  promote   take the next step now, without waiting for a verdict
  pause     hold the current weight; no step is judged until resume
  resume    continue a paused step with a fresh clock, or restart a rolled-back migration
  abort     roll back to 0%: all traffic to the monolith

ROUTE defaults to every route of NAME with a migration. Commands go through the ApiRoute's
annotation migration.figway.dev/<route>; the operator acts on each once.`;

/** The ApiRoute as this command reads it. */
export interface ApiRouteView {
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { routes?: { name: string; migration?: unknown }[] };
  status?: ApiRouteStatus;
}

/** `42s ago`, `5m ago`, `3h ago`. */
export function ago(fromMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - fromMs) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** The text `figway migration status` prints. Pure. */
export function formatMigrationStatus(apiRoute: ApiRouteView, nowMs: number): string {
  const { name, namespace = 'default', annotations = {} } = apiRoute.metadata;
  const lines = [`ApiRoute ${namespace}/${name}`];
  for (const route of apiRoute.spec?.routes ?? []) {
    const inStatus = apiRoute.status?.routes?.find((r) => r.name === route.name);
    if (route.migration === undefined) {
      lines.push(
        `  ${route.name}: no migration (${inStatus?.newServicePercent ?? '?'}% to the new service, from spec)`,
      );
      continue;
    }
    const state = storedState(apiRoute.status, route.name);
    if (state === undefined) {
      lines.push(`  ${route.name}: not started yet (the operator has not reconciled it)`);
      continue;
    }
    const steps = state.plan.steps;
    const since = Date.parse(state.since);
    const where =
      state.phase === 'Pending' || state.phase === 'RolledBack'
        ? `${state.weight}%`
        : `step ${state.step + 1}/${steps.length} (${state.weight}%)`;
    lines.push(
      `  ${route.name}: ${state.phase}${state.pausedBy ? ` (by ${state.pausedBy})` : ''} at ${where} since ${state.since} (${ago(since, nowMs)})`,
    );
    lines.push(`    steps     ${steps.map((s) => `${s}%`).join(' → ')}`);
    lines.push(`    message   ${state.message}`);
    const a = state.lastAnalysis;
    if (a) {
      const extra = [
        ...(a.latencyRatio !== undefined ? [`p99 ratio ${a.latencyRatio.toPrecision(3)}`] : []),
        ...(a.mismatchRatio !== undefined ? [`shadow mismatches ${percent(a.mismatchRatio)}`] : []),
      ];
      lines.push(
        `    verdict   ${a.verdict} at ${a.at}: ${a.requests} new-service requests, 5xx ${percent(a.newErrorRatio)} vs monolith ${percent(a.monolithErrorRatio)}${extra.length > 0 ? `, ${extra.join(', ')}` : ''}`,
      );
      lines.push(`    reason    ${a.reason}`);
    }
    const command = annotations[migrationCommandAnnotation(route.name)];
    if (command !== undefined && command !== state.command)
      lines.push(`    pending   ${command} (not yet acted on by the operator)`);
  }
  return `${lines.join('\n')}\n`;
}

/** The routes a command applies to; throws naming the route or the missing migration. */
export function commandTargets(apiRoute: ApiRouteView, route: string | undefined): string[] {
  const routes = apiRoute.spec?.routes ?? [];
  const where = `ApiRoute ${apiRoute.metadata.namespace ?? 'default'}/${apiRoute.metadata.name}`;
  if (route !== undefined) {
    const found = routes.find((r) => r.name === route);
    if (!found)
      throw new Error(
        `${where} has no route ${JSON.stringify(route)}; its routes: ${routes.map((r) => r.name).join(', ') || 'none'}`,
      );
    if (found.migration === undefined)
      throw new Error(`route ${route} of ${where} has no migration: add spec.routes[].migration`);
    return [route];
  }
  const migrating = routes.filter((r) => r.migration !== undefined).map((r) => r.name);
  if (migrating.length === 0)
    throw new Error(`${where} has no route with a migration: add spec.routes[].migration`);
  return migrating;
}

/** The merge patch that commands `verb` on `routes`; `id` makes each command unique. */
export function commandPatch(
  verb: MigrationCommand,
  routes: readonly string[],
  id: string,
): { metadata: { annotations: Record<string, string> } } {
  return {
    metadata: {
      annotations: Object.fromEntries(
        routes.map((r) => [migrationCommandAnnotation(r), `${verb} ${id}`]),
      ),
    },
  };
}

/** The kubeconfig context's namespace, as kubectl uses it without -n. */
export function defaultNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}

/** Runs the command; the exit code is 0 on success, 1 on an API failure, 2 on bad usage. */
export async function migrationCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`figway migration: ${(error as Error).message}\n${MIGRATION_USAGE}\n`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${MIGRATION_USAGE}\n`);
    return 0;
  }
  const [verb, name, route, ...extra] = parsed.positionals;
  const verbs = ['status', ...MIGRATION_COMMANDS];
  if (verb === undefined || !verbs.includes(verb) || name === undefined || extra.length > 0) {
    const problem =
      verb !== undefined && !verbs.includes(verb)
        ? `unknown verb ${JSON.stringify(verb)}: use one of ${verbs.join(', ')}`
        : extra.length > 0
          ? `unexpected arguments: ${extra.join(' ')}`
          : 'missing VERB or NAME';
    process.stderr.write(`figway migration: ${problem}\n${MIGRATION_USAGE}\n`);
    return 2;
  }
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(parsed.values.kubeconfig);
  } catch (error) {
    process.stderr.write(`figway migration: ${(error as Error).message}\n`);
    return 1;
  }
  const namespace = parsed.values.namespace ?? defaultNamespace(kc);
  const api = kc.makeApiClient(CustomObjectsApi);
  const address = { group: GROUP, version: VERSION, plural: PLURAL, namespace, name };
  let apiRoute: ApiRouteView;
  try {
    apiRoute = (await api.getNamespacedCustomObject(address)) as ApiRouteView;
  } catch (error) {
    process.stderr.write(
      `figway migration: cannot read ApiRoute ${namespace}/${name}: ${describeApiError(error)}\n`,
    );
    return 1;
  }
  if (verb === 'status') {
    process.stdout.write(formatMigrationStatus(apiRoute, Date.now()));
    return 0;
  }
  let targets: string[];
  try {
    targets = commandTargets(apiRoute, route);
  } catch (error) {
    process.stderr.write(`figway migration: ${(error as Error).message}\n`);
    return 1;
  }
  const patch = commandPatch(verb as MigrationCommand, targets, new Date().toISOString());
  try {
    await api.patchNamespacedCustomObject(
      { ...address, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (error) {
    process.stderr.write(
      `figway migration: cannot annotate ApiRoute ${namespace}/${name}: ${describeApiError(error)}\n`,
    );
    return 1;
  }
  for (const [key, value] of Object.entries(patch.metadata.annotations)) {
    process.stdout.write(
      `${key.slice(key.indexOf('/') + 1)}: ${verb} requested (${key}=${value}); see figway migration status ${name} -n ${namespace}\n`,
    );
  }
  return 0;
}
