// Figway's metrics in a real Prometheus (Debian's `prometheus`), end to end:
//
//   ApiRoute ──▶ figway operator (real control plane) ──▶ route-table ConfigMap
//                      │ /metrics                              │ watched by
//                      ▼                                       ▼
//                 Prometheus ◀── /metrics ── figway gateway ──▶ monolith / new services
//                                                 ▲              (HTTP servers on 127.0.0.1)
//                                   traffic from this test
//
// The gateway runs as a process here (not a kwok pod, which runs nothing) with the token of
// the ServiceAccount the operator made for it, reading the ConfigMap the operator wrote.
// Prometheus scrapes both with the labels the chart's ServiceMonitor and PodMonitor give
// (job, namespace, pod, apiroute) and evaluates the chart's alert rules. The test then asks
// Prometheus's HTTP API what it saw and compares it with the traffic it sent.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { ROUTE_TABLE_KEY } from '../../src/api/index.js';
import { testClusterEnv } from '../cluster/env.js';
import { apiRequest, attachCluster } from '../cluster/harness.js';
import { CHART_DIR, REPO_ROOT } from '../tools/chart.js';
import { figway } from '../tools/cli.js';
import {
  eventually,
  freePort,
  httpGet,
  startFigway,
  waitForHttp,
  type RunningProcess,
} from '../tools/processes.js';
import {
  prometheusBin,
  PROMETHEUS_INSTALL as INSTALL,
  chartRuleGroups,
  startPrometheus,
  type PromSample,
  type RunningPrometheus,
} from '../tools/prometheus.js';
import { findTool, IN_CI } from '../tools/require-tool.js';
import { serviceAccountKubeConfig } from '../tools/kube.js';

const promtoolBin = findTool('promtool', 'FIGWAY_PROMTOOL');
if (!promtoolBin && IN_CI) throw new Error(`promtool is required in CI: ${INSTALL}`);
if (!prometheusBin || !promtoolBin) {
  process.stderr.write(
    `\n${'!'.repeat(78)}\n!!! SKIPPING the Prometheus end-to-end test: prometheus/promtool not installed.\n!!! Install with: ${INSTALL}\n${'!'.repeat(78)}\n\n`,
  );
}
const cluster = prometheusBin && promtoolBin ? testClusterEnv() : undefined;
const describeE2e = cluster ? describe : describe.skip;

const OPERATOR_NAMESPACE = 'figway-system'; // where the chart would run the operator
const OPERATOR_JOB = 'figway-metrics'; // the ServiceMonitor's job: the metrics Service name
const APIROUTE = 'shop';
/** The operator's series: controller-runtime's names, with its controller label. */
const RECONCILES = `controller_runtime_reconcile_total{job="${OPERATOR_JOB}", controller="apiroute"`;

interface Upstream {
  server: Server;
  port: number;
}

/** An upstream that names itself in x-served-by and answers `status`. */
async function upstream(name: string, status: number): Promise<Upstream> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', 'x-served-by': name });
      res.end(`${name} ${req.url ?? ''}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port };
}

describeE2e('figway metrics in a real Prometheus', () => {
  let work: string;
  let admin: k8s.KubeConfig;
  let namespace: string;
  let operatorPort: number;
  let gatewayPort: number;
  let gatewayAdminPort: number;
  let deadPort: number;
  const procs: RunningProcess[] = [];
  const upstreams: Upstream[] = [];
  let operator: RunningProcess;
  let gateway: RunningProcess;
  let prometheus: RunningPrometheus;

  const custom = () => admin.makeApiClient(k8s.CustomObjectsApi);
  const core = () => admin.makeApiClient(k8s.CoreV1Api);

  const query = (promql: string) => prometheus.query(promql);
  const waitForQuery = (
    what: string,
    promql: string,
    accept: (result: PromSample[]) => boolean,
    timeoutMs?: number,
  ) => prometheus.waitFor(what, promql, accept, timeoutMs);

  async function tokenKubeconfig(
    serviceAccount: string,
    ns: string,
    file: string,
  ): Promise<string> {
    const kc = await serviceAccountKubeConfig(admin, ns, serviceAccount);
    const path = join(work, file);
    writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
    return path;
  }

  beforeAll(async () => {
    if (!cluster) throw new Error('unreachable: no cluster');
    work = mkdtempSync(join(tmpdir(), 'figway-prometheus-e2e-'));
    admin = new k8s.KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);

    // The CRD, as the chart ships it (server-side apply; the other tests apply the same file).
    // FIGWAY_TEST_CRD (as in the operator tests): try a CRD change before it is generated.
    const crdFile =
      process.env.FIGWAY_TEST_CRD ?? join(REPO_ROOT, 'crds', 'figway.dev_apiroutes.yaml');
    // Sent as it is: client-node's typed serializer would drop x-kubernetes-* keys.
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
    await eventually('the ApiRoute CRD to be served', async () => {
      await custom().listClusterCustomObject({
        group: 'figway.dev',
        version: 'v1alpha1',
        plural: 'apiroutes',
      });
      return true;
    });
    namespace = `e2e-${randomBytes(3).toString('hex')}`;
    await core().createNamespace({ body: { metadata: { name: namespace } } });

    upstreams.push(
      await upstream('monolith', 200),
      await upstream('orders', 200),
      await upstream('cart', 503),
    );
    [operatorPort, gatewayPort, gatewayAdminPort, deadPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      // Nothing listens here: the search service that is down.
      freePort(),
    ]);

    // Prometheus with the chart's alert rules, scraping with the labels the chart's ServiceMonitor (job = the metrics Service,
    // namespace, pod) and PodMonitor (namespace, pod, apiroute from the pod's label) give.
    prometheus = await startPrometheus({
      work,
      // fallbackRate: any fallback at all, so that search-api's raise the alert.
      ruleGroups: await chartRuleGroups(work, { fallbackRate: 0.001 }),
      targets: [
        {
          job: OPERATOR_JOB,
          target: `127.0.0.1:${operatorPort}`,
          labels: { namespace: OPERATOR_NAMESPACE, pod: 'figway-operator-0' },
          // As the chart's ServiceMonitor: the migration series' own namespace wins.
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

    // The operator, watching only this test's namespace (the shared cluster has others).
    operator = startFigway(
      'operator',
      [
        'operator',
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--namespaces=${namespace}`,
        '--leader-elect=false',
        `--admin-port=${operatorPort}`,
        '--admin-address=127.0.0.1',
        // status.routes[].shadow from the Prometheus below, refreshed every second.
        `--prometheus-url=${prometheus.url}`,
        '--shadow-status-seconds=1',
      ],
      join(work, 'operator.log'),
    );
    procs.push(operator);
    await waitForHttp(operator, `http://127.0.0.1:${operatorPort}/readyz`, 90_000);
  }, 240_000);

  afterAll(async () => {
    for (const proc of procs.reverse()) await proc.stop();
    for (const { server } of upstreams) {
      server.closeAllConnections();
      server.close();
    }
    if (namespace)
      await core()
        .deleteNamespace({ name: namespace })
        .catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  const counts = {
    orders: { new: 0, monolith: 0 },
    cart: { new: 0, monolith: 0 },
    search: 0,
    unmatched: 0,
  };

  test('the operator is scraped before any ApiRoute exists: no reconcile yet', async () => {
    const result = await waitForQuery(
      'the operator to be scraped',
      `${RECONCILES}, result="success"}`,
      (r) => r.length === 1,
    );
    expect(result[0]?.value[1]).toBe('0');
    expect(await query(`up{job="${OPERATOR_JOB}"}`)).toEqual([
      expect.objectContaining({ value: [expect.any(Number), '1'] }),
    ]);
  }, 90_000);

  test('an ApiRoute is reconciled, and Prometheus sees the reconcile counter rise', async () => {
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
          monolith: { service: 'legacy-shop', port: 8080 },
          gateway: { replicas: 1 },
          routes: [
            {
              name: 'orders-api',
              match: { path: { type: 'PathPrefix', value: '/api/orders' } },
              backends: [
                { service: 'orders', port: 80, weight: 30 },
                { monolith: true, weight: 70 },
              ],
              cohort: { header: 'x-user-id' },
              // Every request the monolith serves is compared with the new service's answer.
              shadow: { backend: 'orders', percent: 100 },
            },
            {
              name: 'cart-api',
              match: { path: { type: 'PathPrefix', value: '/api/cart' } },
              backends: [
                { service: 'cart', port: 80, weight: 50 },
                { monolith: true, weight: 50 },
              ],
              cohort: { header: 'x-user-id' },
            },
            {
              // A new service that is down: every request it gets is retried, then falls
              // back to the monolith, so the failure panels have data.
              name: 'search-api',
              match: { path: { type: 'PathPrefix', value: '/api/search' } },
              backends: [
                { service: 'search', port: 80, weight: 50 },
                { monolith: true, weight: 50 },
              ],
              fallbackToMonolith: true,
              retries: { attempts: 2, conditions: ['connect-failure'] },
            },
            {
              // A migration, for the autopilot's series: it waits at its first step
              // (minRequests is out of reach) until the test promotes it. No traffic.
              name: 'reviews-api',
              match: { path: { type: 'PathPrefix', value: '/api/reviews' } },
              backends: [
                { service: 'reviews', port: 80, weight: 100 },
                { monolith: true, weight: 0 },
              ],
              migration: { steps: [50, 100], analysis: { minRequests: 1_000_000 } },
            },
          ],
        },
      },
    });
    await waitForQuery(
      'Prometheus to see a successful reconcile',
      `${RECONCILES}, result="success"}`,
      (r) => Number(r[0]?.value[1]) >= 1,
      120_000,
    );
    const rise = await query(`increase(${RECONCILES}, result="success"}[5m])`);
    expect(Number(rise[0]?.value[1])).toBeGreaterThan(0);
    const errors = await query(`${RECONCILES}, result="error"}`);
    expect(errors[0]?.value[1]).toBe('0');
  }, 180_000);

  test('the gateway serves the route table the operator wrote, with its own ServiceAccount token', async () => {
    await eventually(
      'the route-table ConfigMap',
      async () =>
        (await core().readNamespacedConfigMap({ name: `${APIROUTE}-gateway`, namespace })).data?.[
          ROUTE_TABLE_KEY
        ],
      60_000,
    );
    const kubeconfig = await tokenKubeconfig(
      `${APIROUTE}-gateway`,
      namespace,
      'gateway.kubeconfig',
    );
    const [monolith, orders, cart] = upstreams as [Upstream, Upstream, Upstream];
    gateway = startFigway(
      'gateway',
      [
        'gateway',
        `--configmap=${APIROUTE}-gateway`,
        `--namespace=${namespace}`,
        '--host=127.0.0.1',
        `--port=${gatewayPort}`,
        `--admin-port=${gatewayAdminPort}`,
        `--resolve=legacy-shop=http://127.0.0.1:${monolith.port}`,
        `--resolve=orders=http://127.0.0.1:${orders.port}`,
        `--resolve=cart=http://127.0.0.1:${cart.port}`,
        `--resolve=search=http://127.0.0.1:${deadPort}`,
        `--resolve=reviews=http://127.0.0.1:${deadPort}`,
      ],
      join(work, 'gateway.log'),
      { env: { KUBECONFIG: kubeconfig } },
    );
    procs.push(gateway);
    await waitForHttp(gateway, `http://127.0.0.1:${gatewayAdminPort}/readyz`, 60_000);
    await waitForQuery(
      'the gateway to be scraped',
      `up{job="figway-gateways"} == 1`,
      (r) => r.length === 1,
    );
  }, 120_000);

  test('traffic split between monolith and new service in Prometheus matches the traffic sent', async () => {
    const send = async (path: string, user: string) => {
      const response = await fetch(`http://127.0.0.1:${gatewayPort}${path}`, {
        headers: { 'x-user-id': user },
        signal: AbortSignal.timeout(10_000),
      });
      await response.text();
      return { status: response.status, servedBy: response.headers.get('x-served-by') };
    };
    // Five rounds a few scrapes apart: rate() sees only increases between samples, so
    // traffic sent between two scrapes of a brand-new series would look like no traffic.
    const ROUNDS = 5;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let i = round; i < 300; i += ROUNDS) {
        const { status, servedBy } = await send(`/api/orders/${i}`, `user-${i}`);
        expect(status).toBe(200);
        if (servedBy === 'orders') counts.orders.new += 1;
        else if (servedBy === 'monolith') counts.orders.monolith += 1;
        else throw new Error(`unexpected x-served-by ${String(servedBy)}`);
      }
      for (let i = round; i < 100; i += ROUNDS) {
        const { status, servedBy } = await send('/api/cart', `user-${i}`);
        if (servedBy === 'cart' && status === 503) counts.cart.new += 1;
        else if (servedBy === 'monolith' && status === 200) counts.cart.monolith += 1;
        else throw new Error(`unexpected ${status} from ${String(servedBy)}`);
      }
      for (let i = round; i < 40; i += ROUNDS) {
        // Served by the monolith whichever side the split picks: search is down.
        const { status, servedBy } = await send(`/api/search?q=${i}`, `user-${i}`);
        expect([status, servedBy]).toEqual([200, 'monolith']);
        counts.search += 1;
      }
      for (let i = round; i < 40; i += ROUNDS) {
        const { status, servedBy } = await send(`/legacy/page/${i}`, `user-${i}`);
        expect([status, servedBy]).toEqual([200, 'monolith']);
        counts.unmatched += 1;
      }
      await sleep(2_500);
    }
    // Cohorts: about 30% of 300 users are on the new orders service, 50% of 100 on cart.
    expect(counts.orders.new).toBeGreaterThan(50);
    expect(counts.orders.new).toBeLessThan(130);
    expect(counts.cart.new).toBeGreaterThan(25);
    expect(counts.cart.new).toBeLessThan(75);

    const byBackend = `sum by (route, backend, code_class) (figway_gateway_requests_total{namespace="${namespace}", apiroute="${APIROUTE}"})`;
    const expected = [
      { route: 'orders-api', backend: 'orders', code_class: '2xx', n: counts.orders.new },
      { route: 'orders-api', backend: 'monolith', code_class: '2xx', n: counts.orders.monolith },
      { route: 'cart-api', backend: 'cart', code_class: '5xx', n: counts.cart.new },
      { route: 'cart-api', backend: 'monolith', code_class: '2xx', n: counts.cart.monolith },
      // A fallback counts under the monolith that served it (and in fallbacks_total).
      { route: 'search-api', backend: 'monolith', code_class: '2xx', n: counts.search },
      { route: '(unmatched)', backend: 'monolith', code_class: '2xx', n: counts.unmatched },
    ];
    const total = expected.reduce((s, e) => s + e.n, 0);
    const result = await waitForQuery(
      `Prometheus to have scraped all ${total} requests`,
      byBackend,
      (r) => r.reduce((s, x) => s + Number(x.value[1]), 0) === total,
    );
    const key = (x: { route?: string; backend?: string }) => `${x.route ?? ''} ${x.backend ?? ''}`;
    const seen = result
      .filter((r) => Number(r.value[1]) > 0)
      .map((r) => ({
        route: r.metric.route,
        backend: r.metric.backend,
        code_class: r.metric.code_class,
        n: Number(r.value[1]),
      }))
      .sort((a, b) => key(a).localeCompare(key(b)));
    expect(seen).toEqual([...expected].sort((a, b) => key(a).localeCompare(key(b))));

    // The migration as the dashboard shows it: target weight and observed share.
    const weight = await query(
      `figway_gateway_route_new_service_weight{namespace="${namespace}", route="orders-api"}`,
    );
    expect(weight[0]?.value[1]).toBe('30');
    const share = await query(
      `figway_gateway_route_new_service_share{namespace="${namespace}", route="orders-api"}`,
    );
    expect(Number(share[0]?.value[1])).toBeCloseTo((100 * counts.orders.new) / 300, 6);
    const latency = await query(
      `sum by (backend) (figway_gateway_request_duration_seconds_count{namespace="${namespace}", route="orders-api"})`,
    );
    expect(Object.fromEntries(latency.map((r) => [r.metric.backend, Number(r.value[1])]))).toEqual({
      orders: counts.orders.new,
      monolith: counts.orders.monolith,
    });
  }, 180_000);

  test('the operator writes the shadow comparison into status.routes[].shadow, from Prometheus', async () => {
    // The upstreams answer with their own names: every compared body differs.
    const shadow = await eventually(
      'status.routes[orders-api].shadow to count every monolith-served request',
      async () => {
        const apiRoute = (await custom().getNamespacedCustomObject({
          group: 'figway.dev',
          version: 'v1alpha1',
          plural: 'apiroutes',
          namespace,
          name: APIROUTE,
        })) as { status?: { routes?: { name: string; shadow?: { requests: number } }[] } };
        const found = apiRoute.status?.routes?.find((r) => r.name === 'orders-api')?.shadow;
        return found?.requests === counts.orders.monolith ? found : undefined;
      },
      60_000,
      500,
    );
    expect(shadow).toEqual({
      requests: counts.orders.monolith,
      mismatchRatio: 1,
      topFields: ['body'],
    });
  }, 90_000);

  test('the chart alerts fire for the failing new service and stay quiet for the healthy route', async () => {
    const alerts = () => prometheus.alerts();
    const ruleHealth = async () => {
      const { body } = await httpGet(`${prometheus.url}/api/v1/rules`);
      const groups = (
        JSON.parse(body) as {
          data: {
            groups: {
              rules: { name: string; health: string; lastError?: string; state?: string }[];
            }[];
          };
        }
      ).data.groups;
      return groups
        .flatMap((g) => g.rules)
        .map((r) => `${r.name}: ${r.health} ${r.state ?? ''} ${r.lastError ?? ''}`);
    };
    const firing = await eventually(
      'FigwayNewServiceErrorsAboveMonolith to fire for cart-api, FigwayHighFallbackRate for search-api',
      async () => {
        const list = await alerts();
        const fires = (name: string) =>
          list.some((a) => a.labels.alertname === name && a.state === 'firing');
        return fires('FigwayNewServiceErrorsAboveMonolith') && fires('FigwayHighFallbackRate')
          ? list
          : undefined;
      },
      60_000,
      500,
    ).catch(async (error: unknown) => {
      throw new Error(
        `${(error as Error).message}\n  alerts: ${JSON.stringify(await alerts())}\n  rules:\n    ${(await ruleHealth()).join('\n    ')}`,
        { cause: error },
      );
    });
    const names = firing
      .filter((a) => a.state === 'firing')
      .map((a) => `${a.labels.alertname ?? ''} ${a.labels.route ?? ''}`)
      .sort();
    expect(names).toEqual([
      'FigwayGatewayHigh5xxRatio cart-api',
      'FigwayHighFallbackRate search-api',
      'FigwayNewServiceErrorsAboveMonolith cart-api',
    ]);
    for (const alert of firing)
      expect(alert.labels).toMatchObject({ namespace, apiroute: APIROUTE });
  }, 90_000);

  test('a weight change reaches the gateway without a restart and shows in Prometheus', async () => {
    const reloadsBefore = Number(
      (
        await query(`figway_gateway_config_reloads_total{job="figway-gateways", result="success"}`)
      )[0]?.value[1],
    );
    await custom().patchNamespacedCustomObject(
      {
        group: 'figway.dev',
        version: 'v1alpha1',
        plural: 'apiroutes',
        namespace,
        name: APIROUTE,
        body: [
          { op: 'replace', path: '/spec/routes/0/backends/0/weight', value: 60 },
          { op: 'replace', path: '/spec/routes/0/backends/1/weight', value: 40 },
        ],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    await waitForQuery(
      'the new weight in Prometheus',
      `figway_gateway_route_new_service_weight{job="figway-gateways", route="orders-api"}`,
      (r) => r[0]?.value[1] === '60',
    );
    const reloads = await query(
      `figway_gateway_config_reloads_total{job="figway-gateways", result="success"}`,
    );
    expect(Number(reloads[0]?.value[1])).toBe(reloadsBefore + 1);
    expect(gateway.exitInfo()).toBeUndefined();
  }, 90_000);

  test('a rejected route table is counted and raises FigwayGatewayConfigRejected', async () => {
    // Someone edits the ConfigMap by hand; the gateway refuses it and keeps serving.
    await core().patchNamespacedConfigMap(
      {
        name: `${APIROUTE}-gateway`,
        namespace,
        body: { data: { [ROUTE_TABLE_KEY]: '{"not": "a route table"}' } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitForQuery(
      'the rejected config to be counted',
      `figway_gateway_config_reloads_total{job="figway-gateways", result="invalid"}`,
      (r) => Number(r[0]?.value[1]) >= 1,
    );
    const { status } = await httpGet(`http://127.0.0.1:${gatewayPort}/legacy/still-serving`);
    expect(status).toBe(200);
    await waitForQuery(
      'FigwayGatewayConfigRejected to fire',
      `ALERTS{alertname="FigwayGatewayConfigRejected", alertstate="firing", apiroute="${APIROUTE}"}`,
      (r) => r.length === 1,
    );
  }, 90_000);

  test('no FigwayOperatorDown or FigwayReconcileErrors while the operator works', async () => {
    const quiet = await query('ALERTS{alertname=~"FigwayOperatorDown|FigwayReconcileErrors"}');
    expect(quiet).toEqual([]);
  });

  test('figway status shows configured, effective and observed share, 5xx per side, conditions and Events', async () => {
    // The autopilot holds a migration at 0% (Pending) until Prometheus shows the route
    // served; wait for its first step, which status then reports as the effective share.
    await eventually(
      'the reviews-api migration to take its first step',
      async () => {
        const apiRoute = (await custom().getNamespacedCustomObject({
          group: 'figway.dev',
          version: 'v1alpha1',
          plural: 'apiroutes',
          namespace,
          name: APIROUTE,
        })) as { status?: { routes?: { name: string; migration?: { phase: string } }[] } };
        const phase = apiRoute.status?.routes?.find((r) => r.name === 'reviews-api')?.migration
          ?.phase;
        return phase !== undefined && phase !== 'Pending' ? phase : undefined;
      },
      90_000,
      500,
    );
    const result = await figway([
      'status',
      APIROUTE,
      '-n',
      namespace,
      `--kubeconfig=${cluster?.kubeconfigPath ?? ''}`,
      `--prometheus-url=${prometheus.url}`,
      '--window=10m',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const row = (route: string) =>
      result.stdout
        .split('\n')
        .find((l) => l.startsWith(`${route} `))
        ?.split(/ {2,}/);
    // orders-api: spec 60% since the weight change, observed from the requests sent.
    const observed = `${Number(((100 * counts.orders.new) / 300).toPrecision(3))}%`;
    expect(row('orders-api')?.slice(0, 4)).toEqual(['orders-api', '60%', '60%', observed]);
    // cart-api: every new-service answer was a 503.
    expect(row('cart-api')?.slice(4, 6)).toEqual([
      `100% of ${counts.cart.new}`,
      `0% of ${counts.cart.monolith}`,
    ]);
    expect(row('search-api')?.slice(0, 3)).toEqual(['search-api', '50%', '50%']);
    // reviews-api migrates: effective 50% (the first step) while the spec says 100%.
    expect(row('reviews-api')?.slice(0, 3)).toEqual(['reviews-api', '100%', '50%']);
    expect(row('reviews-api')?.[6]).toMatch(/^(Progressing|WaitingForTraffic) step 1\/2$/);
    expect(result.stdout).toMatch(/^ {2}Accepted +True /m);
    expect(result.stdout).toMatch(/^EVENTS\n {2}\d+[smh] ago +(Normal|Warning) /m);
    expect(result.stdout).toContain('GatewayCreated');
  }, 150_000);

  test('figway migration promote steps reviews-api up, as the dashboard then shows', async () => {
    const kubeconfig = `--kubeconfig=${cluster?.kubeconfigPath ?? ''}`;
    const promote = await figway([
      'migration',
      'promote',
      APIROUTE,
      'reviews-api',
      '-n',
      namespace,
      kubeconfig,
    ]);
    expect(promote.code).toBe(0);
    await waitForQuery(
      'the promoted weight in Prometheus',
      `figway_operator_migration_weight{namespace="${namespace}", route="reviews-api"}`,
      (r) => r[0]?.value[1] === '100',
    );
  }, 90_000);

  test('every dashboard query runs in Prometheus and has data', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      annotations: { list: { name: string; expr?: string }[] };
    };
    // Every panel and annotation: the failures and fallbacks are search-api's, the
    // autopilot's series reviews-api's, the weight changes the promotion just made.
    const queries = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
      ...dashboard.annotations.list.flatMap((a) =>
        a.expr === undefined ? [] : [[`annotation ${a.name}`, a.expr] as const],
      ),
    ];
    expect(queries.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const [title, promql] of queries) {
      const expr = promql
        .replaceAll('$namespace', namespace)
        .replaceAll('$apiroute', APIROUTE)
        .replaceAll('$route', '.*')
        .replaceAll('$__rate_interval', '1m');
      if ((await query(expr)).length === 0) empty.push(`${title}: ${expr}`);
    }
    expect(empty).toEqual([]);
  }, 60_000);

  // prom-client's default metrics include gauges named *_total (nodejs_active_handles_total,
  // …), which promtool rejects: prometheus/client_js#283. The per-type gauges without
  // _total (nodejs_active_handles{type}) carry the same information.
  test.each([
    ['gateway', () => gatewayAdminPort],
    ['operator', () => operatorPort],
  ])('promtool check metrics accepts the /metrics of the %s', async (_name, port) => {
    const { body } = await httpGet(`http://127.0.0.1:${port()}/metrics`);
    expect(body).toMatch(/^# HELP figway_/m);
    const result = spawnSync(promtoolBin as string, ['check', 'metrics'], {
      input: body,
      encoding: 'utf8',
    });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  test('the operator and the gateway stop cleanly on SIGTERM', async () => {
    await sleep(100);
    expect(await gateway.stop()).toEqual({ code: 0, signal: null });
    expect(await operator.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);
});
