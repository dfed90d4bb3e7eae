// `figway dev --migrate`: the migration autopilot on the dev demo, without a cluster or
// Prometheus. The same state machine as the operator's, fed by the demo gateway's own
// /metrics (GatewayMetricsSource); each new weight is published to the gateway as a new
// route table, so figway_gateway_route_new_service_weight follows it. Traffic comes from
// a built-in client (a different user per request) so every step has requests to judge.
import {
  compileRouteTable,
  validateYamlDocuments,
  type ApiRoute,
  type Migration,
  type RouteTable,
} from '../../api/index.js';
import { percent } from './analysis.js';
import { advanceMigrations } from './autopilot.js';
import { GatewayMetricsSource } from './gateway-metrics-source.js';
import type { MigrationState } from './state-machine.js';

/** The demo's plan: steps of 10 s (the API's least interval), judged at 95% confidence. */
export const DEMO_MIGRATION: Migration = {
  steps: [10, 25, 50, 100],
  interval: '10s',
  analysis: { maxErrorRatioIncrease: 0.05, confidence: 0.95, minRequests: 50 },
  onFailure: 'Rollback',
};

/** The route of the demo ApiRoute that migrates. */
export const DEMO_ROUTE = 'orders-api';

/** What the dev command hands the autopilot. */
export interface DemoContext {
  /** The demo ApiRoute. */
  apiRouteYaml: string;
  /** Base URL of the running gateway, e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  /** The gateway's /metrics. */
  metricsUrl: string;
  /** Serves a new route table. */
  publish(table: RouteTable): void;
  out(line: string): void;
  /** Requests per second the built-in client sends (default 100). */
  requestsPerSecond?: number;
  /** Time between decisions (default 1 s). */
  tickMs?: number;
}

export interface RunningDemo {
  /** Resolves when the migration is Promoted or RolledBack. */
  finished: Promise<MigrationState>;
  stop(): Promise<void>;
}

/** The demo ApiRoute with the built-in plan on its migrating route, validated. */
export function demoApiRoute(yaml: string): ApiRoute {
  const [document] = validateYamlDocuments(yaml);
  const value = document?.value;
  if (!value) throw new Error('the demo ApiRoute is invalid');
  const route = value.spec.routes.find((r) => r.name === DEMO_ROUTE);
  if (!route) throw new Error(`the demo ApiRoute has no route ${DEMO_ROUTE}`);
  route.migration = DEMO_MIGRATION;
  return value;
}

/** What a decision prints: its events, else the verdict of a check made in it. */
function report(
  before: MigrationState | undefined,
  state: MigrationState,
  events: readonly { message: string }[],
): string[] {
  if (events.length > 0) return events.map((e) => `autopilot: ${e.message}`);
  const a = state.lastAnalysis;
  if (a === undefined || state.checkedAt === before?.checkedAt || state.checkedAt !== a.at)
    return [];
  return [
    `autopilot: ${state.weight}% check: ${a.verdict}, ${a.requests} new-service requests, 5xx ${percent(a.newErrorRatio)} vs monolith ${percent(a.monolithErrorRatio)}`,
  ];
}

/** Starts the autopilot and its traffic on the running demo. */
export function runDemoMigration(context: DemoContext): RunningDemo {
  const apiRoute = demoApiRoute(context.apiRouteYaml);
  const source = new GatewayMetricsSource(context.metricsUrl);
  const tickMs = context.tickMs ?? 1000;
  const rps = context.requestsPerSecond ?? 100;
  const states = new Map<string, MigrationState>();
  let weight: number | undefined;
  let stopped = false;
  let user = 0;
  let resolveFinished: (state: MigrationState) => void = () => undefined;
  const finished = new Promise<MigrationState>((resolve) => (resolveFinished = resolve));

  const publish = (w: number) => {
    weight = w;
    context.publish(compileRouteTable(apiRoute, { migrationWeights: new Map([[DEMO_ROUTE, w]]) }));
  };
  publish(0);
  context.out(
    `autopilot: ${DEMO_ROUTE} steps ${DEMO_MIGRATION.steps.join('% → ')}%, ${DEMO_MIGRATION.interval} each, at least ${DEMO_MIGRATION.analysis.minRequests} new-service requests and at most ${percent(DEMO_MIGRATION.analysis.maxErrorRatioIncrease)} more 5xx than the monolith at ${percent(DEMO_MIGRATION.analysis.confidence)} confidence`,
  );

  const send = async () => {
    user += 1;
    try {
      const response = await fetch(`${context.gatewayUrl}/api/orders/${user}`, {
        headers: { 'x-user-id': `demo-user-${user}` },
        signal: AbortSignal.timeout(5000),
      });
      await response.arrayBuffer();
    } catch {
      // The gateway counts what failed; the client just keeps the traffic going.
    }
  };
  const traffic = setInterval(
    () => {
      if (!stopped) void send();
    },
    Math.max(1, Math.round(1000 / rps)),
  );

  let running: Promise<void> = Promise.resolve();
  const decide = async () => {
    const step = await advanceMigrations(apiRoute, (r) => states.get(r), source, Date.now());
    const state = step.states.get(DEMO_ROUTE);
    if (stopped || state === undefined) return;
    const before = states.get(DEMO_ROUTE);
    states.set(DEMO_ROUTE, state);
    for (const line of report(before, state, step.events)) context.out(line);
    const next = step.weights.get(DEMO_ROUTE) ?? 0;
    if (next !== weight) publish(next);
    if (state.phase === 'Promoted' || state.phase === 'RolledBack') {
      stopped = true;
      clearInterval(traffic);
      clearInterval(ticker);
      context.out(`autopilot: finished: ${state.phase} at ${state.weight}%. Ctrl-C stops.`);
      resolveFinished(state);
    }
  };
  const ticker = setInterval(() => {
    // One decision at a time; a slow scrape delays the next tick, never overlaps it.
    running = running.then(decide).catch((error: unknown) => {
      context.out(`autopilot: ${(error as Error).message}`);
    });
  }, tickMs);

  return {
    finished,
    async stop() {
      stopped = true;
      clearInterval(traffic);
      clearInterval(ticker);
      await running;
    },
  };
}
