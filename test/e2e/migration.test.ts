// The migration autopilot end to end, on the real control plane with a real Prometheus:
//
//   ApiRoute (3 migrating routes) ──▶ figway operator ──▶ route-table ConfigMap ──▶ figway gateway
//            ▲ status, Events          │ --prometheus-url                           │ /metrics
//            │                         ▼                                            ▼
//   figway migration (CLI) ──▶ annotations       Prometheus ◀── scrapes ── gateway and operator
//
// Traffic is driven by this test, a different user per request, against upstreams on
// 127.0.0.1. One ApiRoute, three routes, each its own story:
//   healthy-api  a healthy new service walks 5 → 25 → 50 → 100; the operator is killed
//                mid-migration and resumes where it was (same step, same clock, no step twice)
//   failing-api  its new service turns to 20% 5xx at 25%: RolledBack to 0 within one
//                interval, with the Event and the FigwayMigrationRolledBack alert
//   quiet-api    too little traffic: WaitingForTraffic, saying how many more requests it
//                needs, never promoted; then aborted with the CLI
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ApiRouteStatus, RouteMigrationStatus } from '../../src/api/index.js';
import { testClusterEnv } from '../cluster/env.js';
import { apiRequest, attachCluster } from '../cluster/harness.js';
import { CHART_DIR, REPO_ROOT } from '../tools/chart.js';
import { serviceAccountKubeConfig } from '../tools/kube.js';
import {
  eventually,
  freePort,
  startFigway,
  startFigwayKillable,
  waitForHttp,
  type RunningProcess,
} from '../tools/processes.js';
import {
  chartRuleGroups,
  prometheusBin,
  startPrometheus,
  type RunningPrometheus,
} from '../tools/prometheus.js';

const cluster = prometheusBin ? testClusterEnv() : undefined;
const describeE2e = cluster ? describe : describe.skip;

const APIROUTE = 'shop';
const INTERVAL_S = 10;

/** An upstream whose 5xx share the test sets; it fails evenly (every fifth at 0.2). */
async function upstream(): Promise<{ server: Server; port: number; failRatio: number }> {
  const state = { failRatio: 0, served: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.served += 1;
      const fail =
        Math.floor(state.served * state.failRatio) >
        Math.floor((state.served - 1) * state.failRatio);
      res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' });
      res.end(fail ? 'failed\n' : 'ok\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    get failRatio() {
      return state.failRatio;
    },
    set failRatio(r: number) {
      state.failRatio = r;
    },
  };
}

const migration = (minRequests: number) => ({
  steps: [5, 25, 50, 100],
  interval: `${INTERVAL_S}s`,
  analysis: { maxErrorRatioIncrease: 0.1, confidence: 0.95, minRequests },
  onFailure: 'Rollback',
});

function route(name: string, service: string, minRequests: number) {
  return {
    name,
    match: { path: { type: 'PathPrefix', value: `/api/${name}` } },
    backends: [{ service, port: 80, weight: 100 }],
    cohort: { header: 'x-user-id' },
    migration: migration(minRequests),
  };
}

describeE2e('the migration autopilot on a real control plane with a real Prometheus', () => {
  let work: string;
  let admin: k8s.KubeConfig;
  let namespace: string;
  let operatorPort: number;
  let gatewayPort: number;
  let gatewayAdminPort: number;
  let prometheus: RunningPrometheus;
  let operator: RunningProcess;
  let gateway: RunningProcess;
  const procs: RunningProcess[] = [];
  const servers: Server[] = [];
  let failing: Awaited<ReturnType<typeof upstream>>;
  let traffic: NodeJS.Timeout[] = [];
  let user = 0;
  /** When failing-api's 25% step began (its new service fails from then on). */
  let failingSince: number | undefined;

  const custom = () => admin.makeApiClient(k8s.CustomObjectsApi);
  const core = () => admin.makeApiClient(k8s.CoreV1Api);

  async function status(): Promise<ApiRouteStatus> {
    const obj = (await custom().getNamespacedCustomObject({
      group: 'figway.dev',
      version: 'v1alpha1',
      plural: 'apiroutes',
      namespace,
      name: APIROUTE,
    })) as { status?: ApiRouteStatus };
    return obj.status ?? {};
  }

  async function stateOf(name: string): Promise<RouteMigrationStatus | undefined> {
    return (await status()).routes?.find((r) => r.name === name)?.migration;
  }

  /** Waits until the route's migration state satisfies `accept`; the error shows the last. */
  async function waitForState(
    name: string,
    what: string,
    accept: (s: RouteMigrationStatus) => boolean,
    timeoutMs: number,
  ): Promise<RouteMigrationStatus> {
    let last: RouteMigrationStatus | undefined;
    return eventually(
      `${name} to be ${what}`,
      async () => {
        last = await stateOf(name);
        return last && accept(last) ? last : undefined;
      },
      timeoutMs,
      250,
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}\n  last state: ${JSON.stringify(last)}\n--- operator log ---\n${operator.log().slice(-4000)}`,
      );
    });
  }

  /** The ApiRoute's Events, oldest first. */
  async function events(): Promise<{ reason: string; message: string; type: string }[]> {
    const list = await core().listNamespacedEvent({ namespace });
    const time = (e: k8s.CoreV1Event) => new Date(e.firstTimestamp ?? 0).getTime();
    return list.items
      .filter((e) => e.involvedObject.name === APIROUTE)
      .sort((a, b) => time(a) - time(b))
      .map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', type: e.type ?? '' }));
  }

  function startOperator(name: string): RunningProcess {
    const proc = startFigwayKillable(
      name,
      [
        'operator',
        `--kubeconfig=${cluster?.kubeconfigPath ?? ''}`,
        `--namespaces=${namespace}`,
        '--leader-elect=false',
        `--admin-port=${operatorPort}`,
        '--admin-address=127.0.0.1',
        `--prometheus-url=${prometheus.url}`,
      ],
      join(work, `${name}.log`),
    );
    procs.push(proc);
    return proc;
  }

  /** Sends `rps` requests a second to a route, a different user each time. */
  function drive(path: string, rps: number): void {
    traffic.push(
      setInterval(() => {
        user += 1;
        void fetch(`http://127.0.0.1:${gatewayPort}${path}/${user}`, {
          headers: { 'x-user-id': `user-${user}` },
          signal: AbortSignal.timeout(5000),
        })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }, 1000 / rps),
    );
  }

  beforeAll(async () => {
    if (!cluster) throw new Error('unreachable: no cluster');
    work = mkdtempSync(join(tmpdir(), 'figway-migration-e2e-'));
    admin = new k8s.KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);
    const crdFile =
      process.env.FIGWAY_TEST_CRD ?? join(REPO_ROOT, 'crds', 'figway.dev_apiroutes.yaml');
    const crd = parse(readFileSync(crdFile, 'utf8')) as { metadata: { name: string } };
    const applied = await apiRequest(
      await attachCluster(cluster.stateFile),
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=figway-e2e&force=true`,
      crd,
      { contentType: 'application/apply-patch+yaml' },
    );
    if (applied.status >= 300)
      throw new Error(`installing the CRD failed: HTTP ${applied.status}: ${applied.body}`);
    namespace = `e2e-migrate-${randomBytes(3).toString('hex')}`;
    await core().createNamespace({ body: { metadata: { name: namespace } } });

    const monolith = await upstream();
    const healthy = await upstream();
    failing = await upstream();
    const quiet = await upstream();
    servers.push(monolith.server, healthy.server, failing.server, quiet.server);
    [operatorPort, gatewayPort, gatewayAdminPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);

    prometheus = await startPrometheus({
      work,
      ruleGroups: await chartRuleGroups(work),
      targets: [
        {
          job: 'figway-metrics',
          target: `127.0.0.1:${operatorPort}`,
          labels: { namespace: 'figway-system', pod: 'figway-operator-0' },
          honorLabels: true,
        },
        {
          job: 'figway-gateways',
          target: `127.0.0.1:${gatewayAdminPort}`,
          labels: { namespace, pod: `${APIROUTE}-gateway-0`, apiroute: APIROUTE },
        },
      ],
    });
    procs.push(prometheus.process);

    operator = startOperator('operator');
    await waitForHttp(operator, `http://127.0.0.1:${operatorPort}/readyz`, 90_000);
    await custom().createNamespacedCustomObject({
      group: 'figway.dev',
      version: 'v1alpha1',
      plural: 'apiroutes',
      namespace,
      body: {
        apiVersion: 'figway.dev/v1alpha1',
        kind: 'ApiRoute',
        metadata: { name: APIROUTE, namespace },
        spec: {
          monolith: { service: 'legacy', port: 8080 },
          gateway: { replicas: 1 },
          routes: [
            route('healthy-api', 'orders', 20),
            route('failing-api', 'cart', 20),
            route('quiet-api', 'search', 200),
          ],
        },
      },
    });
    // Until its gateway is scraped, every migration waits at 0%, saying why.
    const pending = await waitForState(
      'healthy-api',
      'Pending',
      (s) => s.phase === 'Pending',
      60_000,
    );
    expect(pending.weight).toBe(0);

    const kubeconfig = await serviceAccountKubeConfig(admin, namespace, `${APIROUTE}-gateway`);
    const gatewayKubeconfig = join(work, 'gateway.kubeconfig');
    writeFileSync(gatewayKubeconfig, kubeconfig.exportConfig(), { mode: 0o600 });
    gateway = startFigway(
      'gateway',
      [
        'gateway',
        `--configmap=${APIROUTE}-gateway`,
        `--namespace=${namespace}`,
        '--host=127.0.0.1',
        `--port=${gatewayPort}`,
        `--admin-port=${gatewayAdminPort}`,
        `--resolve=legacy=http://127.0.0.1:${monolith.port}`,
        `--resolve=orders=http://127.0.0.1:${healthy.port}`,
        `--resolve=cart=http://127.0.0.1:${failing.port}`,
        `--resolve=search=http://127.0.0.1:${quiet.port}`,
        '--log-level=warn',
      ],
      join(work, 'gateway.log'),
      { env: { KUBECONFIG: gatewayKubeconfig } },
    );
    procs.push(gateway);
    await waitForHttp(gateway, `http://127.0.0.1:${gatewayAdminPort}/readyz`, 60_000);
    drive('/api/healthy-api', 60);
    drive('/api/failing-api', 60);
    drive('/api/quiet-api', 2);
    // The failing route's story runs beside the others: its new service turns to 20%
    // 5xx the moment the autopilot gives it 25%.
    traffic.push(
      setInterval(() => {
        if (failingSince !== undefined) return;
        void stateOf('failing-api')
          .then((s) => {
            if (s?.weight === 25 && failingSince === undefined) {
              failing.failRatio = 0.2;
              failingSince = Date.parse(s.since);
            }
          })
          .catch(() => undefined);
      }, 250),
    );
  }, 300_000);

  afterAll(async () => {
    for (const t of traffic) clearInterval(t);
    traffic = [];
    for (const proc of procs.reverse()) await proc.stop();
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    if (namespace)
      await core()
        .deleteNamespace({ name: namespace })
        .catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  test('every route takes its first step once Prometheus sees the gateway', async () => {
    for (const name of ['healthy-api', 'failing-api', 'quiet-api']) {
      const s = await waitForState(name, 'at 5%', (m) => m.weight === 5, 60_000);
      expect(s).toMatchObject({ phase: 'Progressing', step: 0 });
    }
    await prometheus.waitFor(
      'the gateway to serve the first step',
      `figway_gateway_route_new_service_weight{route="healthy-api"}`,
      (r) => r[0]?.value[1] === '5',
    );
  }, 90_000);

  test('the operator killed mid-migration resumes where it was: same step, same clock, no step twice', async () => {
    const at25 = await waitForState('healthy-api', 'at 25%', (s) => s.weight === 25, 90_000);
    // Mid-step, not in the milliseconds between the status write and its Event: an Event is
    // sent after the state it announces is stored (at most once), so a kill between the two
    // would lose it, which is not the case this test is about.
    await eventually('the 25% step Event', async () =>
      (await events()).some((e) => e.message.startsWith('route healthy-api: step 2/4'))
        ? true
        : undefined,
    );
    process.kill(operator.pid, 'SIGKILL');
    expect(await operator.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const before = await stateOf('healthy-api');
    expect(before).toMatchObject({ step: 1, since: at25.since });
    operator = startOperator('operator-restarted');
    await waitForHttp(operator, `http://127.0.0.1:${operatorPort}/readyz`, 90_000);
    const at50 = await waitForState('healthy-api', 'at 50%', (s) => s.weight === 50, 60_000);
    // The step's clock ran on through the restart: 25% lasted one interval, not two.
    const lasted = Date.parse(at50.since) - Date.parse(at25.since);
    expect(lasted).toBeGreaterThanOrEqual(INTERVAL_S * 1000);
    expect(lasted).toBeLessThan(2 * INTERVAL_S * 1000);
    const promoted = await waitForState(
      'healthy-api',
      'Promoted',
      (s) => s.phase === 'Promoted',
      60_000,
    );
    expect(promoted.weight).toBe(100);
    // The restarted operator took those steps (the killed one is gone).
    expect(operator.log()).toContain('migration: route healthy-api: step 3/4 (50%): 25% → 50%');
    const steps = (await events())
      .filter((e) => e.message.startsWith('route healthy-api: '))
      .map((e) => `${e.reason} ${e.message.split(':')[1]?.trim() ?? ''}`);
    expect(steps).toEqual([
      'MigrationStarted step 1/4 (5%)',
      'MigrationStepUp step 2/4 (25%)',
      'MigrationStepUp step 3/4 (50%)',
      'MigrationPromoted promoted from 50% to 100%',
    ]);
    await prometheus.waitFor(
      'the operator and the gateway to report 100%',
      `figway_operator_migration_weight{route="healthy-api"} == 100 and on (route) figway_gateway_route_new_service_weight{route="healthy-api"} == 100`,
      (r) => r.length === 1,
    );
  }, 180_000);

  test('a new service that turns to 20% 5xx at 25% is rolled back to 0 within one interval, with the Event and the alert', async () => {
    const rolledBack = await waitForState(
      'failing-api',
      'RolledBack',
      (s) => s.phase === 'RolledBack',
      (INTERVAL_S + 20) * 1000,
    );
    expect(rolledBack.weight).toBe(0);
    const started = failingSince ?? Number.NaN;
    // Judged at the end of the step's interval at the latest (one check, plus a scrape).
    expect(Date.parse(rolledBack.since) - started).toBeLessThan((INTERVAL_S + 5) * 1000);
    expect(rolledBack.lastAnalysis).toMatchObject({ verdict: 'fail' });
    expect(rolledBack.lastAnalysis?.newErrorRatio).toBeGreaterThan(0.15);
    expect(rolledBack.lastAnalysis?.reason).toMatch(
      /^fail: new-service 5xx \d+(\.\d+)?% \(\d+\/\d+\), monolith 0% \(0\/\d+\): worse than the monolith by more than 10% at 95% confidence$/,
    );
    const warning = await eventually('the rollback Event', async () =>
      (await events()).find((e) => e.reason === 'MigrationRolledBack'),
    );
    expect(warning).toMatchObject({ type: 'Warning' });
    expect(warning.message).toMatch(
      /^route failing-api: rolled back from step 2\/4 \(25%\) to 0%: fail: /,
    );
    const migrating = (await status()).conditions?.find((c) => c.type === 'Migrating');
    expect(migrating).toMatchObject({ status: 'False', reason: 'RolledBack' });
    await prometheus.waitFor(
      'FigwayMigrationRolledBack to fire',
      `ALERTS{alertname="FigwayMigrationRolledBack", alertstate="firing"}`,
      (r) => r.length === 1,
      60_000,
    );
    const alert = (await prometheus.alerts()).find(
      (a) => a.labels.alertname === 'FigwayMigrationRolledBack',
    );
    expect(alert?.labels).toMatchObject({ namespace, apiroute: APIROUTE, route: 'failing-api' });
    await prometheus.waitFor(
      'the gateway to serve 0% on the failing route',
      `figway_gateway_route_new_service_weight{route="failing-api"}`,
      (r) => r[0]?.value[1] === '0',
    );
  }, 120_000);

  test('low traffic waits for traffic, saying how many more requests it needs, and never promotes', async () => {
    const waiting = await waitForState(
      'quiet-api',
      'WaitingForTraffic',
      (s) => s.phase === 'WaitingForTraffic',
      60_000,
    );
    expect(waiting).toMatchObject({ step: 0, weight: 5 });
    expect(waiting.lastAnalysis?.reason).toMatch(
      /^inconclusive: waiting for \d+ more requests \(\d+ of minRequests 200 on the new service\)$/,
    );
    // Another interval later it still waits at its first step.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_S * 1000));
    expect(await stateOf('quiet-api')).toMatchObject({ phase: 'WaitingForTraffic', step: 0 });
  }, 90_000);

  test('figway migration status shows it; figway migration abort rolls it back through the API server', async () => {
    const cli = (name: string, args: string[]) => {
      const proc = startFigway(
        name,
        [
          'migration',
          ...args,
          APIROUTE,
          ...(args[0] === 'status' ? [] : ['quiet-api']),
          '-n',
          namespace,
          `--kubeconfig=${cluster?.kubeconfigPath ?? ''}`,
        ],
        join(work, `${name}.log`),
      );
      procs.push(proc);
      return proc;
    };
    const show = cli('cli-status', ['status']);
    expect(await show.exited).toEqual({ code: 0, signal: null });
    const text = show.log();
    expect(text).toContain(`ApiRoute ${namespace}/${APIROUTE}`);
    expect(text).toMatch(/ {2}healthy-api: Promoted at step 4\/4 \(100%\)/);
    expect(text).toMatch(/ {2}failing-api: RolledBack at 0%/);
    expect(text).toMatch(/ {2}quiet-api: WaitingForTraffic at step 1\/4 \(5%\)/);
    expect(text).toMatch(/reason {4}inconclusive: waiting for \d+ more requests/);

    const abort = cli('cli-abort', ['abort']);
    expect(await abort.exited).toEqual({ code: 0, signal: null });
    expect(abort.log()).toMatch(
      /^quiet-api: abort requested \(migration\.figway\.dev\/quiet-api=abort /,
    );
    const aborted = await waitForState(
      'quiet-api',
      'RolledBack',
      (s) => s.phase === 'RolledBack',
      30_000,
    );
    expect(aborted.weight).toBe(0);
    expect(aborted.lastAnalysis?.verdict).toBe('inconclusive');
    // The spec was not touched: only the annotation the operator acted on.
    const obj = (await custom().getNamespacedCustomObject({
      group: 'figway.dev',
      version: 'v1alpha1',
      plural: 'apiroutes',
      namespace,
      name: APIROUTE,
    })) as { metadata: { generation: number; annotations: Record<string, string> } };
    expect(obj.metadata.generation).toBe(1);
    expect(aborted.command).toBe(obj.metadata.annotations['migration.figway.dev/quiet-api']);
  }, 90_000);

  test('the dashboard panels of the autopilot have data', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'),
    ) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const panels = dashboard.panels.filter((p) => p.title.startsWith('Migration autopilot'));
    expect(panels.length).toBeGreaterThan(0);
    const empty: string[] = [];
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr
          .replaceAll('$namespace', namespace)
          .replaceAll('$apiroute', APIROUTE)
          .replaceAll('$route', '.*')
          .replaceAll('$__rate_interval', '1m');
        if ((await prometheus.query(expr)).length === 0) empty.push(`${panel.title}: ${expr}`);
      }
    }
    expect(empty).toEqual([]);
  }, 60_000);
});
