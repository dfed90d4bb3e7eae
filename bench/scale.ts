// `npm run bench:scale` (issue 7, part 3): the operator with 1,000 ApiRoutes on a real
// control plane, and a gateway's Prometheus series with 100 routes.
//
// Part 1 creates N ApiRoutes (default 1,000) as fast as the API server takes them and
// measures, from the first create:
//   - the time until every ApiRoute is Accepted (for its current generation) and all of
//     its objects exist (ServiceAccount, Role, RoleBinding, ConfigMap, Service,
//     Deployment, PodDisruptionBudget), seen through this process's own watches;
//   - the operator's peak RSS (VmHWM) and CPU seconds (utime + stime), from /proc;
//   - the operator's API requests per ApiRoute, counted on the API server: the operator
//     runs as its own ServiceAccount, which API Priority and Fairness classifies into the
//     flow schema "service-accounts" (nothing else here does: kube-controller-manager's
//     accounts are in kube-system, the bench and kwok are users), so the delta of
//     apiserver_flowcontrol_dispatched_requests_total{flow_schema="service-accounts"} is
//     exactly the operator's requests. A preload in the operator (count-requests.ts)
//     breaks the same requests down by verb and resource.
// Then it lets the system settle (the Deployments roll out on kwok's fake node, which
// moves their status and the ApiRoutes' Ready condition) and measures again.
// Then the cold start: the operator is stopped and started again over the settled
// ApiRoutes; the time from its start until it has reconciled every one (its queue empty),
// and the API requests and writes that cost (target: no writes).
//
// Part 2 runs a gateway on the ConfigMap of a 100-route ApiRoute, sends traffic through
// every route (both backends, several methods and status classes) and counts the series
// on its /metrics, then sends requests to 1,000 distinct unmatched paths and counts again:
// raw paths must never become series.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { freePorts } from '../test/cluster/net.js';
import {
  crdNote,
  httpGet,
  log,
  readRequestLog,
  runBench,
  sleep,
  startEnv,
  startGateway,
  startOperator,
  waitUntil,
  type BenchEnv,
  type Operator,
  type RequestLog,
} from './lib/env.js';
import {
  ensureNamespace,
  serviceAccountKubeconfig,
  sumSamples,
  type Kube,
  type WatchHandle,
} from './lib/kube.js';
import { ProcSampler, sampleProc, stopChild, type ProcSample } from './lib/procs.js';
import { loadAverage, machine, mib, table, verdict } from './lib/stats.js';
import { startUpstream } from './lib/upstream.js';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    namespaces: { type: 'string', default: '10' },
    'create-concurrency': { type: 'string', default: '16' },
    'series-routes': { type: 'string', default: '100' },
    'timeout-seconds': { type: 'string', default: '900' },
    'settle-seconds': { type: 'string', default: '300' },
    /** Extra node flags for the operator, e.g. --cpu-prof --cpu-prof-dir=DIR. */
    'operator-node-args': { type: 'string', default: '' },
    'skip-series': { type: 'boolean', default: false },
    /** Extra `figway operator` flags, e.g. --concurrency=16. */
    'operator-args': { type: 'string', default: '' },
    /** Write a heap snapshot of the operator once settled (into the run's directory). */
    'heap-snapshot': { type: 'boolean', default: false },
    /** Skip the cold start (the operator restarted over the settled ApiRoutes). */
    'skip-cold-start': { type: 'boolean', default: false },
  },
});
const COUNT = Number(flags.count);
const NAMESPACES = Number(flags.namespaces);
const CREATE_CONCURRENCY = Number(flags['create-concurrency']);
const SERIES_ROUTES = Number(flags['series-routes']);
const TIMEOUT_MS = Number(flags['timeout-seconds']) * 1000;
const SETTLE_MS = Number(flags['settle-seconds']) * 1000;
if (
  !(COUNT >= 1 && COUNT <= 10_000) ||
  !(NAMESPACES >= 1 && NAMESPACES <= 100) ||
  !(CREATE_CONCURRENCY >= 1 && CREATE_CONCURRENCY <= 64) ||
  !(SERIES_ROUTES >= 1 && SERIES_ROUTES <= 100) ||
  !(TIMEOUT_MS > 0 && SETTLE_MS >= 0)
) {
  throw new Error(
    '--count 1..10000, --namespaces 1..100, --create-concurrency 1..64, --series-routes 1..100, --timeout-seconds > 0',
  );
}

const GROUP_PATH = '/apis/figway.dev/v1alpha1';
const LABEL = 'figway.dev/apiroute';
/** Owned kinds and the collection path of each, across namespaces. */
const KINDS: [string, string][] = [
  ['ServiceAccount', '/api/v1/serviceaccounts'],
  ['Role', '/apis/rbac.authorization.k8s.io/v1/roles'],
  ['RoleBinding', '/apis/rbac.authorization.k8s.io/v1/rolebindings'],
  ['ConfigMap', '/api/v1/configmaps'],
  ['Service', '/api/v1/services'],
  ['Deployment', '/apis/apps/v1/deployments'],
  ['PodDisruptionBudget', '/apis/policy/v1/poddisruptionbudgets'],
];
const APF_SERIES = 'apiserver_flowcontrol_dispatched_requests_total';
const APF_LABELS = { flow_schema: 'service-accounts' };

/** A typical first strangled path (examples/orders-first-path.yaml), default 2 replicas. */
function apiRoute(namespace: string, name: string) {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name, namespace },
    spec: {
      monolith: { service: 'legacy-shop', port: 8080 },
      routes: [
        {
          name: 'orders-api',
          match: { path: { type: 'PathPrefix', value: '/api/orders' }, methods: ['GET', 'POST'] },
          backends: [
            { service: 'orders', port: 80, weight: 10 },
            { monolith: true, weight: 90 },
          ],
          cohort: { header: 'x-user-id' },
          fallbackToMonolith: true,
          timeout: '5s',
        },
      ],
    },
  };
}

interface Condition {
  type: string;
  status: string;
  observedGeneration?: number;
}
interface Obj {
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    resourceVersion: string;
    labels?: Record<string, string>;
  };
  status?: { conditions?: Condition[] };
}

/**
 * What this process's watches have seen: which ApiRoutes are Accepted/Ready for their
 * generation and which of their objects exist. `complete` counts ApiRoutes with both.
 */
class Tracker {
  private readonly bits = new Map<string, number>();
  private readonly ready = new Set<string>();
  complete = 0;
  completeAt: number | undefined;
  readyAt: number | undefined;
  private readonly all = (1 << (KINDS.length + 1)) - 1;
  private readonly watches: WatchHandle[] = [];

  constructor(private readonly expected: number) {}

  get readyCount(): number {
    return this.ready.size;
  }

  private set(key: string, bit: number, on: boolean): void {
    const before = this.bits.get(key) ?? 0;
    const after = on ? before | (1 << bit) : before & ~(1 << bit);
    if (before === after) return;
    this.bits.set(key, after);
    if (before === this.all) this.complete -= 1;
    if (after === this.all) this.complete += 1;
    if (this.complete === this.expected && this.completeAt === undefined)
      this.completeAt = performance.now();
  }

  async start(kube: Kube): Promise<void> {
    const watch = async (path: string, params: Record<string, string>, bit: number) => {
      const query = new URLSearchParams(params).toString();
      const list = await kube.get<{ metadata: { resourceVersion: string } }>(`${path}?${query}`);
      const run = (resourceVersion: string) => {
        let last = resourceVersion;
        const handle = kube.watch<Obj>(
          path,
          { ...params, resourceVersion, timeoutSeconds: '1800' },
          (event) => {
            if (event.type === 'BOOKMARK' || event.type === 'ERROR') return;
            last = event.object.metadata.resourceVersion;
            this.onEvent(bit, event.type === 'DELETED', event.object);
          },
        );
        this.watches.push(handle);
        void handle.ended.then(() => {
          if (!this.stopped) {
            log(`watch ${path} ended early; resuming`);
            run(last);
          }
        });
      };
      run(list.metadata.resourceVersion);
    };
    await watch(`${GROUP_PATH}/apiroutes`, {}, KINDS.length);
    for (const [i, [, path]] of KINDS.entries()) await watch(path, { labelSelector: LABEL }, i);
  }

  private stopped = false;
  stop(): void {
    this.stopped = true;
    for (const w of this.watches) w.stop();
  }

  private onEvent(bit: number, deleted: boolean, obj: Obj): void {
    if (!obj.metadata.namespace.startsWith('scale-')) return;
    if (bit === KINDS.length) {
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      const current = (type: string) =>
        obj.status?.conditions?.find(
          (c) =>
            c.type === type &&
            c.status === 'True' &&
            c.observedGeneration === obj.metadata.generation,
        ) !== undefined;
      this.set(key, bit, !deleted && current('Accepted'));
      if (!deleted && current('Ready')) this.ready.add(key);
      else this.ready.delete(key);
      if (this.ready.size === this.expected && this.readyAt === undefined)
        this.readyAt = performance.now();
      return;
    }
    const owner = obj.metadata.labels?.[LABEL];
    if (owner) this.set(`${obj.metadata.namespace}/${owner}`, bit, !deleted);
  }
}

interface Snapshot {
  at: number;
  proc: ProcSample;
  apf: number;
  /** apiserver_request_total over every client and verb. */
  apiAll: number;
  requests: RequestLog;
  /** CPU seconds of each control-plane component. */
  controlPlane: Record<string, number>;
}

/** The pids of the control-plane components, from the harness's state file. */
function controlPlanePids(env: BenchEnv): Record<string, number> {
  const state = JSON.parse(readFileSync(env.cluster.stateFile, 'utf8')) as {
    components: Record<string, { pid: number }>;
  };
  return Object.fromEntries(Object.entries(state.components).map(([name, c]) => [name, c.pid]));
}

async function snapshot(env: BenchEnv, operator: Operator): Promise<Snapshot> {
  const [apfText, requests] = await Promise.all([
    env.kube.request<string>('GET', '/metrics').then((r) => r.text),
    readRequestLog(operator),
  ]);
  const controlPlane: Record<string, number> = {};
  for (const [name, pid] of Object.entries(controlPlanePids(env))) {
    try {
      controlPlane[name] = sampleProc(pid).cpuSeconds;
    } catch {
      // Not running (any more): left out.
    }
  }
  return {
    at: performance.now(),
    proc: sampleProc(operator.child.pid),
    apf: sumSamples(apfText, APF_SERIES, APF_LABELS),
    apiAll: sumSamples(apfText, 'apiserver_request_total', {}),
    requests,
    controlPlane,
  };
}

function requestDelta(a: RequestLog, b: RequestLog): [string, number][] {
  return Object.entries(b.counts)
    .map(([k, v]): [string, number] => [k, v - (a.counts[k] ?? 0)])
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1]);
}

const total = (entries: [string, number][]) => entries.reduce((s, [, v]) => s + v, 0);

/** Runs `fn` over items with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

/** Request classes (count-requests.ts) that write. */
const WRITE = /^(create|apply|patch|update|delete) /;

/**
 * Restarts the operator over the settled ApiRoutes and waits until it has caught up:
 * every ApiRoute reconciled once (the resync when it starts leading) and its queue empty.
 */
async function coldStart(
  env: BenchEnv,
  operator: Operator,
  options: Parameters<typeof startOperator>[1],
): Promise<{
  leadingMs: number;
  caughtUpMs: number;
  apf: number;
  reconciles: number;
  byVerb: [string, number][];
}> {
  await stopChild(operator.child);
  // The restarted operator counts from zero into the same file.
  if (operator.requestLog) rmSync(operator.requestLog, { force: true });
  const apfBefore = sumSamples(
    (await env.kube.request<string>('GET', '/metrics')).text,
    APF_SERIES,
    APF_LABELS,
  );
  const start = performance.now();
  const restarted = await startOperator(env, options);
  const leadingMs = performance.now() - start;
  let reconciles = 0;
  await waitUntil(
    `the restarted operator to reconcile all ${COUNT} ApiRoutes`,
    TIMEOUT_MS,
    async () => {
      const counts = await operatorMetric(restarted, 'figway_operator_reconciles_total');
      reconciles = [...counts.matchAll(/} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
      const depth = Number(await operatorMetric(restarted, 'figway_operator_queue_depth '));
      return reconciles >= COUNT && depth === 0;
    },
  );
  const caughtUpMs = performance.now() - start;
  const apfAfter = sumSamples(
    (await env.kube.request<string>('GET', '/metrics')).text,
    APF_SERIES,
    APF_LABELS,
  );
  const log = await readRequestLog(restarted);
  await stopChild(restarted.child);
  return {
    leadingMs,
    caughtUpMs,
    apf: apfAfter - apfBefore,
    reconciles,
    byVerb: requestDelta({ seq: 0, counts: {} }, log),
  };
}

async function operatorMetric(operator: Operator, name: string): Promise<string> {
  const text = (await httpGet(`http://127.0.0.1:${operator.adminPort}/metrics`)).text;
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .map((l) => l.replace(name, '').trim())
    .join(', ');
}

// ---------------------------------------------------------------------------------------
// Part 2: a gateway's series

interface SeriesResult {
  routes: number;
  afterTraffic: number;
  figwayAfterTraffic: number;
  afterRandomPaths: number;
  byFamily: [string, number][];
  bound: number;
  requests: number;
  failed: number;
  gatewayPeakRss: number;
}

function countSeries(text: string): { all: number; figway: number; byFamily: Map<string, number> } {
  const byFamily = new Map<string, number>();
  let all = 0;
  let figway = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    all += 1;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '?';
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (name.startsWith('figway_')) {
      figway += 1;
      byFamily.set(family, (byFamily.get(family) ?? 0) + 1);
    }
  }
  return { all, figway, byFamily };
}

async function gatewaySeries(env: BenchEnv, ports: number[]): Promise<SeriesResult> {
  const { kube } = env;
  const namespace = 'series';
  const name = 'catalog';
  await ensureNamespace(kube, namespace);
  const routes = Array.from({ length: SERIES_ROUTES }, (_, i) => ({
    name: `route-${i}`,
    match: { path: { type: 'PathPrefix', value: `/r${i}` } },
    backends: [
      { service: `svc-${i % 10}`, port: 80, weight: 50 },
      { monolith: true, weight: 50 },
    ],
  }));
  await kube.request('POST', `${GROUP_PATH}/namespaces/${namespace}/apiroutes`, {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name, namespace },
    spec: { monolith: { service: 'legacy', port: 8080 }, gateway: { replicas: 1 }, routes },
  });
  await waitUntil('the 100-route ApiRoute to be Accepted', 120_000, async () => {
    const got = await kube.get<Obj>(`${GROUP_PATH}/namespaces/${namespace}/apiroutes/${name}`);
    return (got.status?.conditions ?? []).some((c) => c.type === 'Accepted' && c.status === 'True');
  });
  const upstream = await startUpstream('upstream');
  const kubeconfig = await serviceAccountKubeconfig(kube, {
    namespace,
    name: `${name}-gateway`,
    file: `${env.dir}/series-gateway.kubeconfig`,
  });
  const resolve: Record<string, string> = { legacy: upstream.url };
  for (let i = 0; i < 10; i++) resolve[`svc-${i}`] = upstream.url;
  const [port, adminPort] = ports as [number, number];
  const gateway = await startGateway(env, {
    configMap: `${name}-gateway`,
    namespace,
    kubeconfig,
    port,
    adminPort,
    resolve,
    name: 'series-gateway',
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let requests = 0;
  let failed = 0;
  const send = (method: string, path: string) =>
    new Promise<void>((done) => {
      requests += 1;
      const req = http.request(
        { host: '127.0.0.1', port, method, path, agent, timeout: 5_000 },
        (res) => {
          res.resume();
          res.on('end', done);
          res.on('error', () => {
            failed += 1;
            done();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed += 1;
        done();
      });
      req.end();
    });
  // Every route: enough GETs to reach both sides of the 50/50 split, POSTs, and 404 and
  // 500 answers from the upstream: a realistic spread of (method, status class) series.
  const work: [string, string][] = [];
  for (let i = 0; i < SERIES_ROUTES; i++) {
    for (let k = 0; k < 16; k++) work.push(['GET', `/r${i}/item/${k}`]);
    for (let k = 0; k < 4; k++) work.push(['POST', `/r${i}/item`]);
    work.push(['GET', `/r${i}/status/404`], ['DELETE', `/r${i}/status/500`]);
  }
  work.push(['GET', '/'], ['GET', '/status/404']);
  await pool(work, 16, ([method, path]) => send(method, path));
  const metricsUrl = `http://127.0.0.1:${adminPort}/metrics`;
  const afterTraffic = countSeries((await httpGet(metricsUrl)).text);
  // Unmatched requests with distinct paths: the monolith serves them; no new series.
  const random = Array.from({ length: 1000 }, () => `/x/${randomBytes(6).toString('hex')}`);
  await pool(random, 16, (path) => send('GET', path));
  const afterRandom = countSeries((await httpGet(metricsUrl)).text);
  const gatewayPeakRss = sampleProc(gateway.child.pid).peakRssBytes;
  agent.destroy();
  await stopChild(gateway.child);
  await upstream.close();
  // The bound, per (route, backend) pair: requests_total 10 methods x 6 classes, the
  // duration histogram 13 buckets + +Inf + sum + count, 5 upstream error reasons, retries,
  // fallbacks; per route the weight and share gauges; plus the fixed families.
  const pairs = (SERIES_ROUTES + 1) * 2; // every route and (unmatched) have 2 backends at most
  const bound = pairs * (60 + 16 + 5 + 1 + 1) + SERIES_ROUTES * 2 + 16;
  return {
    routes: SERIES_ROUTES,
    afterTraffic: afterTraffic.all,
    figwayAfterTraffic: afterTraffic.figway,
    afterRandomPaths: afterRandom.figway,
    byFamily: [...afterTraffic.byFamily].sort((a, b) => b[1] - a[1]),
    bound,
    requests,
    failed,
    gatewayPeakRss,
  };
}

// ---------------------------------------------------------------------------------------

await runBench(async () => {
  const loadBefore = loadAverage();
  log(`machine: ${machine()}; load average ${loadBefore}`);
  const env = await startEnv();
  const { kube } = env;
  const ports = await freePorts(3);
  const operatorOptions = {
    adminPort: ports[0] as number,
    countRequests: true,
    nodeArgs: [
      ...(flags['operator-node-args'] === '' ? [] : flags['operator-node-args'].split(' ')),
      ...(flags['heap-snapshot']
        ? ['--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${env.dir}`]
        : []),
    ],
    args: flags['operator-args'] === '' ? [] : flags['operator-args'].split(' '),
  };
  const operator = await startOperator(env, operatorOptions);
  const sampler = new ProcSampler(operator.child.pid);
  log('operator is leading');
  // Part 2 first, while the operator is idle: its ApiRoute must not queue behind 1,000.
  const series = flags['skip-series'] ? undefined : await gatewaySeries(env, ports.slice(1));
  if (series) log(`gateway series with ${series.routes} routes: ${series.figwayAfterTraffic}`);
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `scale-${i}`);
  for (const ns of namespaces) await ensureNamespace(kube, ns);
  const tracker = new Tracker(COUNT);
  await tracker.start(kube);
  await sleep(2_000); // the operator is idle: its startup requests are done
  const before = await snapshot(env, operator);
  if (before.apf === 0) {
    throw new Error(
      `${APF_SERIES}{flow_schema="service-accounts"} is 0 after the operator started: cannot attribute requests`,
    );
  }
  const loadAtStart = loadAverage();
  log(`load average ${loadAtStart}; creating ${COUNT} ApiRoutes in ${NAMESPACES} namespace(s)`);

  const names = Array.from({ length: COUNT }, (_, i) => ({
    namespace: namespaces[i % NAMESPACES] as string,
    name: `svc-${String(i).padStart(4, '0')}`,
  }));
  const t0 = performance.now();
  let created = 0;
  const progress = setInterval(() => {
    void operatorMetric(operator, 'figway_operator_nodejs_heap_size_total_bytes ')
      .catch(() => 'NaN')
      .then((heapTotal) => {
        log(
          `${((performance.now() - t0) / 1000).toFixed(0)} s: ${created} created, ${tracker.complete} Accepted with objects, ${tracker.readyCount} Ready; operator RSS ${mib(sampler.last?.rssBytes ?? 0)}, V8 heap ${mib(Number(heapTotal))}, CPU ${(sampler.last?.cpuSeconds ?? 0).toFixed(1)} s`,
        );
      });
  }, 5_000);
  try {
    await pool(names, CREATE_CONCURRENCY, async ({ namespace, name }) => {
      await kube.request(
        'POST',
        `${GROUP_PATH}/namespaces/${namespace}/apiroutes`,
        apiRoute(namespace, name),
      );
      created += 1;
    });
    const createdAt = performance.now();
    await waitUntil(
      `all ${COUNT} ApiRoutes Accepted with their objects`,
      TIMEOUT_MS,
      () => tracker.completeAt !== undefined,
      20,
    );
    const completeAt = tracker.completeAt as number;
    const done = await snapshot(env, operator);
    log(
      `all Accepted after ${((completeAt - t0) / 1000).toFixed(2)} s; letting the rollouts settle`,
    );

    // Settle: until the operator has sent nothing for 5 s (lease renewals aside).
    const settleStart = performance.now();
    let last = done.requests;
    let quietSince = performance.now();
    let quiet = false;
    while (performance.now() - settleStart < SETTLE_MS) {
      await sleep(1_000);
      const now = await readRequestLog(operator);
      const moved = requestDelta(last, now).filter(([k]) => !k.includes('leases'));
      last = now;
      if (moved.length > 0) quietSince = performance.now();
      else if (performance.now() - quietSince >= 5_000) {
        quiet = true;
        break;
      }
    }
    const settled = await snapshot(env, operator);
    let heapSnapshot: string | undefined;
    if (flags['heap-snapshot']) {
      process.kill(operator.child.pid, 'SIGWINCH');
      await waitUntil('the heap snapshot', 120_000, () => {
        heapSnapshot = readdirSync(env.dir).find((f) => f.endsWith('.heapsnapshot'));
        return heapSnapshot !== undefined;
      });
      await sleep(10_000); // written synchronously; give it time to finish
    }
    clearInterval(progress);
    const loadAfterScale = loadAverage();
    const peak = sampler.stop();
    const reconciles = await operatorMetric(operator, 'controller_runtime_reconcile_total');
    const heap = await Promise.all(
      [
        'figway_operator_nodejs_heap_size_used_bytes',
        'figway_operator_nodejs_heap_size_total_bytes',
        'figway_operator_nodejs_external_memory_bytes',
      ].map(async (m) => mib(Number(await operatorMetric(operator, `${m} `)))),
    );
    tracker.stop();

    // ------------------------------------------------------------------- output
    const seconds = (completeAt - t0) / 1000;
    const apfAtDone = done.apf - before.apf;
    const apfSettled = settled.apf - before.apf;
    const byVerbDone = requestDelta(before.requests, done.requests);
    const byVerbSettled = requestDelta(before.requests, settled.requests);
    const peakRss = Math.max(settled.proc.peakRssBytes, peak?.peakRssBytes ?? 0);
    const settledLabel = quiet
      ? 'settled (5 s without requests)'
      : `${SETTLE_MS / 1000} s later (NOT settled: still reconciling)`;
    const out: string[] = [];
    out.push('', `Figway scale benchmark (${env.built.revision})`);
    out.push(`machine: ${machine()}`);
    out.push(
      `load average (1/5/15 min): before ${loadBefore}; at the first create ${loadAtStart}; at the end ${loadAfterScale}`,
    );
    out.push(
      `setup: real kube-apiserver + etcd + controller-manager + scheduler + kwok (test/cluster); the operator (${flags['operator-args'] === '' ? 'default flags: --concurrency 16, leader election on' : `flags: ${flags['operator-args']}`}) runs as a plain node process with a ServiceAccount token bound to cluster-admin`,
    );
    out.push(...crdNote(env));
    out.push(
      `workload: ${COUNT} ApiRoutes in ${NAMESPACES} namespace(s), 1 route each, default 2 gateway replicas (so ${COUNT} Deployments and ${COUNT * 2} pods on kwok's fake node); created ${CREATE_CONCURRENCY} at a time, the last create answered after ${((createdAt - t0) / 1000).toFixed(2)} s`,
      '',
    );
    const opCpu = (s: Snapshot) => (s.proc.cpuSeconds - before.proc.cpuSeconds).toFixed(2);
    out.push(
      table([
        ['measure', 'all Accepted with objects', settledLabel, 'target'],
        [
          'time from the first create',
          `${seconds.toFixed(2)} s`,
          `${((settled.at - t0) / 1000).toFixed(2)} s (${tracker.readyCount}/${COUNT} Ready)`,
          `< 10 s: ${verdict(seconds < 10)}`,
        ],
        [
          'operator peak RSS (VmHWM)',
          mib(done.proc.peakRssBytes),
          mib(peakRss),
          `< 150 MiB: ${verdict(peakRss < 150 * 2 ** 20)}`,
        ],
        [
          'operator CPU seconds (since the first create)',
          `${opCpu(done)} s`,
          `${opCpu(settled)} s`,
          '',
        ],
        [
          'operator API requests per ApiRoute (API server, APF)',
          (apfAtDone / COUNT).toFixed(1),
          (apfSettled / COUNT).toFixed(1),
          '',
        ],
        [
          'operator API requests per ApiRoute (client side)',
          (total(byVerbDone) / COUNT).toFixed(1),
          (total(byVerbSettled) / COUNT).toFixed(1),
          '',
        ],
      ]),
      '',
    );
    out.push(
      `operator before the first create: RSS ${mib(before.proc.rssBytes)}, peak ${mib(before.proc.peakRssBytes)}, ${before.proc.cpuSeconds.toFixed(2)} CPU s for startup; total CPU at the end ${settled.proc.cpuSeconds.toFixed(2)} s`,
    );
    out.push(`reconciles: ${reconciles}`);
    const cpDelta = (s: Snapshot) =>
      Object.entries(s.controlPlane)
        .map(([name, cpu]) => `${name} ${(cpu - (before.controlPlane[name] ?? 0)).toFixed(1)} s`)
        .join(', ');
    out.push(`control-plane CPU from the first create to all Accepted: ${cpDelta(done)}`);
    out.push(`control-plane CPU from the first create to the end: ${cpDelta(settled)}`);
    const apiCpu = (s: Snapshot) =>
      (s.controlPlane['kube-apiserver'] ?? 0) - (before.controlPlane['kube-apiserver'] ?? 0);
    out.push(
      `API server requests from every client (apiserver_request_total) from the first create to all Accepted: ${done.apiAll - before.apiAll} (the operator's: ${apfAtDone}); kube-apiserver CPU per request: ${((1000 * apiCpu(done)) / Math.max(1, done.apiAll - before.apiAll)).toFixed(1)} ms`,
    );
    if (heapSnapshot) out.push(`operator heap snapshot: ${env.dir}/${heapSnapshot}`);
    out.push(
      `operator memory at the end (its own metrics): V8 heap used ${heap[0] ?? ''}, heap total ${heap[1] ?? ''}, external ${heap[2] ?? ''}; RSS ${mib(settled.proc.rssBytes)}`,
    );
    out.push('operator API requests by verb and resource (first create to the end):');
    out.push(
      table([
        ['request', 'count', 'per ApiRoute'],
        ...byVerbSettled.map(([k, v]) => [k, String(v), (v / COUNT).toFixed(2)]),
      ]),
    );
    if (series) {
      out.push(
        '',
        `gateway Prometheus series with ${series.routes} routes (each split 50/50 between a Service and the monolith), after ${series.requests} requests (${series.failed} failed) through every route with GET/POST/DELETE and 2xx/4xx/5xx answers:`,
      );
      out.push(
        table([
          ['family', 'series'],
          ...series.byFamily.map(([f, n]) => [f, String(n)]),
          ['all figway_* series', String(series.figwayAfterTraffic)],
          ['all series (with process_* and nodejs_*)', String(series.afterTraffic)],
        ]),
      );
      out.push(
        `after 1,000 more requests to distinct unmatched paths: ${series.afterRandomPaths} figway_* series (${series.afterRandomPaths === series.figwayAfterTraffic ? 'unchanged: paths never become labels' : 'CHANGED'})`,
        `upper bound for ${series.routes} routes: ${series.bound} figway_* series ((routes + unmatched) x 2 backends x (60 requests_total + 16 histogram + 5 error reasons + retries + fallbacks) + 2 gauges per route + fixed families): bounded ${verdict(series.afterRandomPaths <= series.bound)}`,
        `gateway peak RSS with ${series.routes} routes: ${mib(series.gatewayPeakRss)}`,
      );
    }
    out.push(`logs: ${env.dir}/logs`, '');
    process.stdout.write(out.join('\n'));
    // After the figures above are out, so that a failure here cannot lose them.
    const cold = flags['skip-cold-start']
      ? undefined
      : await coldStart(env, operator, operatorOptions);
    out.length = 0;
    if (cold) {
      const writes = cold.byVerb.filter(([k]) => WRITE.test(k) && !k.includes('leases'));
      out.push(
        `cold start (the operator restarted over the ${COUNT} settled ApiRoutes): caught up (every ApiRoute reconciled, queue empty) ${(cold.caughtUpMs / 1000).toFixed(2)} s after its start (${(cold.leadingMs / 1000).toFixed(2)} s to lead); ${cold.apf} API requests (APF), ${cold.reconciles} reconciles; writes: ${total(writes)} (target 0: ${verdict(total(writes) === 0)})`,
        table([['cold-start request', 'count'], ...cold.byVerb.map(([k, v]) => [k, String(v)])]),
      );
    }
    process.stdout.write(out.join('\n'));
  } finally {
    clearInterval(progress);
  }
});
