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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { ROUTE_TABLE_KEY } from '../../src/api/index.js';
import { testClusterEnv } from '../cluster/env.js';
import { apiRequest, attachCluster } from '../cluster/harness.js';
import { CHART_DIR, only, render, REPO_ROOT } from '../tools/chart.js';
import {
  eventually,
  freePort,
  httpGet,
  startFigway,
  startProcess,
  waitForHttp,
  type RunningProcess,
} from '../tools/processes.js';
import { findTool, IN_CI } from '../tools/require-tool.js';
import { serviceAccountKubeConfig } from '../tools/kube.js';

const prometheusBin = findTool('prometheus', 'FIGWAY_PROMETHEUS');
const promtoolBin = findTool('promtool', 'FIGWAY_PROMTOOL');
const INSTALL = 'apt-get install -y prometheus (Debian; includes promtool)';
if ((!prometheusBin || !promtoolBin) && IN_CI)
  throw new Error(`prometheus and promtool are required in CI: ${INSTALL}`);
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
const SCRAPE = '1s';

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

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

describeE2e('figway metrics in a real Prometheus', () => {
  let work: string;
  let admin: k8s.KubeConfig;
  let namespace: string;
  let operatorPort: number;
  let gatewayPort: number;
  let gatewayAdminPort: number;
  let promPort: number;
  const procs: RunningProcess[] = [];
  const upstreams: Upstream[] = [];
  let operator: RunningProcess;
  let gateway: RunningProcess;
  let prometheus: RunningProcess;

  const custom = () => admin.makeApiClient(k8s.CustomObjectsApi);
  const core = () => admin.makeApiClient(k8s.CoreV1Api);

  async function query(promql: string): Promise<PromSample[]> {
    const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`;
    const { status, body } = await httpGet(url);
    const parsed = JSON.parse(body) as {
      status: string;
      error?: string;
      data?: { result: PromSample[] };
    };
    if (status !== 200 || parsed.status !== 'success')
      throw new Error(`Prometheus query ${promql} failed: ${parsed.error ?? body}`);
    return parsed.data?.result ?? [];
  }

  /** Waits until the query returns a result `accept` likes; returns it. */
  async function waitForQuery(
    what: string,
    promql: string,
    accept: (result: PromSample[]) => boolean,
    timeoutMs = 60_000,
  ): Promise<PromSample[]> {
    let last: PromSample[] = [];
    try {
      return await eventually(
        what,
        async () => {
          last = await query(promql);
          return accept(last) ? last : undefined;
        },
        timeoutMs,
        500,
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n  query: ${promql}\n  last result: ${JSON.stringify(last)}`,
        { cause: error },
      );
    }
  }

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
    [operatorPort, gatewayPort, gatewayAdminPort, promPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);

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
        `--prometheus-url=http://127.0.0.1:${promPort}`,
        '--shadow-status-seconds=1',
      ],
      join(work, 'operator.log'),
    );
    procs.push(operator);
    await waitForHttp(operator, `http://127.0.0.1:${operatorPort}/readyz`, 90_000);

    // Prometheus with the chart's alert rules, `for` shortened so alerts fire within the test.
    const rules = only(
      await render({
        set: ['metrics.prometheusRule.enabled=true', 'metrics.prometheusRule.for=0s'],
        apiVersions: ['monitoring.coreos.com/v1'],
      }),
      'PrometheusRule',
    );
    writeFileSync(
      join(work, 'rules.yaml'),
      stringify({ groups: (rules.spec as { groups: unknown }).groups }),
    );
    const config = {
      global: { scrape_interval: SCRAPE, scrape_timeout: SCRAPE, evaluation_interval: SCRAPE },
      rule_files: [join(work, 'rules.yaml')],
      scrape_configs: [
        {
          // What the ServiceMonitor gives: job = the metrics Service, namespace, pod.
          job_name: OPERATOR_JOB,
          static_configs: [
            {
              targets: [`127.0.0.1:${operatorPort}`],
              labels: { namespace: OPERATOR_NAMESPACE, pod: 'figway-operator-0' },
            },
          ],
        },
        {
          // What the PodMonitor gives: namespace, pod, and apiroute from the pod's label.
          job_name: 'figway-gateways',
          static_configs: [
            {
              targets: [`127.0.0.1:${gatewayAdminPort}`],
              labels: { namespace, pod: `${APIROUTE}-gateway-0`, apiroute: APIROUTE },
            },
          ],
        },
      ],
    };
    writeFileSync(join(work, 'prometheus.yml'), stringify(config));
    mkdirSync(join(work, 'tsdb'));
    prometheus = startProcess(
      'prometheus',
      prometheusBin as string,
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      join(work, 'prometheus.log'),
    );
    procs.push(prometheus);
    await waitForHttp(prometheus, `http://127.0.0.1:${promPort}/-/ready`, 60_000);
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

  const counts = { orders: { new: 0, monolith: 0 }, cart: { new: 0, monolith: 0 }, unmatched: 0 };

  test('the operator is scraped before any ApiRoute exists: no reconcile yet', async () => {
    const result = await waitForQuery(
      'the operator to be scraped',
      `figway_operator_reconciles_total{job="${OPERATOR_JOB}", result="success"}`,
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
          ],
        },
      },
    });
    await waitForQuery(
      'Prometheus to see a successful reconcile',
      `figway_operator_reconciles_total{job="${OPERATOR_JOB}", result="success"}`,
      (r) => Number(r[0]?.value[1]) >= 1,
      120_000,
    );
    const rise = await query(
      `increase(figway_operator_reconciles_total{job="${OPERATOR_JOB}", result="success"}[5m])`,
    );
    expect(Number(rise[0]?.value[1])).toBeGreaterThan(0);
    const errors = await query(
      `figway_operator_reconciles_total{job="${OPERATOR_JOB}", result="error"}`,
    );
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
    const alerts = async () => {
      const { body } = await httpGet(`http://127.0.0.1:${promPort}/api/v1/alerts`);
      return (
        JSON.parse(body) as {
          data: { alerts: { labels: Record<string, string>; state: string }[] };
        }
      ).data.alerts;
    };
    const ruleHealth = async () => {
      const { body } = await httpGet(`http://127.0.0.1:${promPort}/api/v1/rules`);
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
      'FigwayNewServiceErrorsAboveMonolith to fire for cart-api',
      async () => {
        const list = await alerts();
        return list.some(
          (a) =>
            a.labels.alertname === 'FigwayNewServiceErrorsAboveMonolith' && a.state === 'firing',
        )
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

  test('every dashboard query runs in Prometheus, and the per-route panels have data', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const empty: string[] = [];
    // Panels that show failures have data only when something failed or fell back, and
    // the autopilot's only when a route migrates (test/e2e/migration.test.ts has them).
    const mayBeEmpty = /Upstream errors|Fallbacks|Migration autopilot/;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr
          .replaceAll('$namespace', namespace)
          .replaceAll('$apiroute', APIROUTE)
          .replaceAll('$route', '.*')
          .replaceAll('$__rate_interval', '1m');
        const result = await query(expr);
        if (result.length === 0 && !mayBeEmpty.test(panel.title))
          empty.push(`${panel.title}: ${expr}`);
      }
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
