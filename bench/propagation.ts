// `npm run bench:propagation` (issue 7, part 2): how long an ApiRoute edit takes to reach
// live traffic, end to end, on a real control plane.
//
// A real kube-apiserver (test/cluster), the operator as a ServiceAccount, and one gateway
// process watching its ConfigMap with the credentials of the ServiceAccount and Role the
// operator created for it. A steady load runs through the gateway while the ApiRoute is
// edited N times. Edit n flips the route's weight between the new service and the
// monolith AND sets the response header x-bench-edit: bench-edit-n, so the first response
// that reflects edit n is unambiguous. Latency is measured from just before the PATCH is
// sent to the arrival of the headers of that first response (one clock, this process).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { freePorts } from '../test/cluster/net.js';
import {
  crdNote,
  log,
  readRequestLog,
  runBench,
  sleep,
  startEnv,
  startGateway,
  startOperator,
  waitUntil,
} from './lib/env.js';
import { ensureNamespace, serviceAccountKubeconfig } from './lib/kube.js';
import { LoadLoop } from './lib/load.js';
import { ProcSampler } from './lib/procs.js';
import { loadAverage, machine, ms, percentile, table, verdict } from './lib/stats.js';
import { startUpstream } from './lib/upstream.js';

const { values: flags } = parseArgs({
  options: {
    edits: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    'edit-timeout-seconds': { type: 'string', default: '10' },
    /** Pause between an edit being seen and the next edit: random in MIN-MAX ms. */
    'pause-ms': { type: 'string', default: '500-1000' },
  },
});
const pause = /^(\d+)-(\d+)$/.exec(flags['pause-ms']);
const PAUSE_MIN = Number(pause?.[1]);
const PAUSE_MAX = Number(pause?.[2]);
const EDITS = Number(flags.edits);
const RATE = Number(flags.rate);
const EDIT_TIMEOUT_MS = Number(flags['edit-timeout-seconds']) * 1000;
if (
  !(EDITS >= 1 && EDITS <= 10_000 && RATE >= 1 && RATE <= 5_000 && EDIT_TIMEOUT_MS > 0) ||
  !(PAUSE_MIN >= 0 && PAUSE_MAX >= PAUSE_MIN && PAUSE_MAX <= 60_000)
) {
  throw new Error(
    '--edits must be 1..10000, --rate 1..5000, --edit-timeout-seconds > 0, --pause-ms MIN-MAX (ms, up to 60000)',
  );
}

/** High enough that a stalled gateway shows as latency, not as requests never sent. */
const MAX_IN_FLIGHT = 512;
const NAMESPACE = 'bench';
const NAME = 'shop';
const CONFIGMAP = `${NAME}-gateway`;
const EDIT_HEADER = 'x-bench-edit';
const editValue = (n: number) => `bench-edit-${n}`;
const APIROUTE_PATH = `/apis/figway.dev/v1alpha1/namespaces/${NAMESPACE}/apiroutes`;

/** The spec of edit n: odd edits send everything to the new service, even ones to the monolith. */
function routes(n: number) {
  const toNew = n % 2 === 1 ? 100 : 0;
  return [
    {
      name: 'orders-api',
      match: { path: { type: 'PathPrefix', value: '/api/orders' } },
      backends: [
        { service: 'orders', port: 80, weight: toNew },
        { monolith: true, weight: 100 - toNew },
      ],
      responseHeaders: { set: { [EDIT_HEADER]: editValue(n) } },
    },
  ];
}

interface Sample {
  edit: number;
  /** performance.now() just before the PATCH. */
  t0: number;
  /** ms from just before the PATCH to its response. */
  apiMs: number;
  /** ms until this process's watch saw the ConfigMap with the edit. */
  configMapMs: number | undefined;
  /** ms until the first response reflecting the edit; undefined: not within the timeout. */
  responseMs: number | undefined;
}

type TraceEntry = [number, number, string, number];

/**
 * Splits the operator's request trace by edit: the requests between one PATCH and the
 * next belong to that edit. Times are Unix ms in both processes.
 */
function operatorBreakdown(samples: readonly Sample[], trace: readonly TraceEntry[]) {
  const reaction: number[] = [];
  const beforeConfigMap: number[] = [];
  const configMapWritten: number[] = [];
  const statusWritten: number[] = [];
  const perEdit: number[] = [];
  samples.forEach((s, i) => {
    const from = performance.timeOrigin + s.t0;
    const next = samples[i + 1];
    const to = next ? performance.timeOrigin + next.t0 : Number.POSITIVE_INFINITY;
    const mine = trace.filter(
      ([start, , key]) => start >= from && start < to && !key.includes('/leases/'),
    );
    perEdit.push(mine.length);
    const first = mine[0];
    if (first) reaction.push(first[0] - from);
    const cm = mine.find(([, , key]) => key.startsWith('apply configmaps'));
    if (cm) {
      beforeConfigMap.push(cm[0] - from);
      if (cm[1] > 0) configMapWritten.push(cm[1] - from);
    }
    const status = mine.find(([, , key]) => key.startsWith('patch apiroutes/status'));
    if (status && status[1] > 0) statusWritten.push(status[1] - from);
  });
  const rows: [string, number[]][] = [
    ['operator sent its first request', reaction],
    ['operator sent the ConfigMap apply', beforeConfigMap],
    ['API server answered the ConfigMap apply', configMapWritten],
    ['API server answered the status patch', statusWritten],
  ];
  const mean = perEdit.reduce((a, b) => a + b, 0) / Math.max(1, perEdit.length);
  return {
    rows,
    requestsPerEdit: `mean ${mean.toFixed(1)}, p50 ${percentile(perEdit, 50)}, max ${Math.max(...perEdit)}`,
  };
}

await runBench(async () => {
  const loadBefore = loadAverage();
  log(`machine: ${machine()}; load average ${loadBefore}`);
  const env = await startEnv();
  const { kube } = env;
  const [operatorAdmin, gatewayPort, gatewayAdmin] = (await freePorts(3)) as [
    number,
    number,
    number,
  ];
  const operator = await startOperator(env, { adminPort: operatorAdmin, trace: true });
  log('operator is leading');

  const monolith = await startUpstream('monolith');
  const orders = await startUpstream('orders');
  await ensureNamespace(kube, NAMESPACE);
  await kube.request('POST', APIROUTE_PATH, {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: NAME, namespace: NAMESPACE },
    spec: { monolith: { service: 'legacy', port: 8080 }, routes: routes(0) },
  });
  await waitUntil('ApiRoute Accepted', 60_000, async () => {
    const route = await kube.get(`${APIROUTE_PATH}/${NAME}`);
    return (route.status?.conditions ?? []).some(
      (c: { type: string; status: string }) => c.type === 'Accepted' && c.status === 'True',
    );
  });
  // The gateway reads its ConfigMap as the ServiceAccount the operator made for it, so
  // the Role the operator wrote is exercised too.
  const gatewayKubeconfig = await serviceAccountKubeconfig(kube, {
    namespace: NAMESPACE,
    name: CONFIGMAP,
    file: `${env.dir}/gateway.kubeconfig`,
  });
  const gateway = await startGateway(env, {
    configMap: CONFIGMAP,
    namespace: NAMESPACE,
    kubeconfig: gatewayKubeconfig,
    port: gatewayPort,
    adminPort: gatewayAdmin,
    resolve: { legacy: monolith.url, orders: orders.url },
  });
  log('gateway is ready');

  // What the load loop and the ConfigMap watch have seen, by edit number.
  const firstResponse = new Map<number, number>();
  const configMapSeen = new Map<number, number>();
  let highest = 0;
  let regressions = 0;
  let mismatched = 0;
  const waiters = new Map<number, () => void>();
  const load = new LoadLoop({
    url: `http://127.0.0.1:${gatewayPort}/api/orders/42`,
    rate: RATE,
    maxInFlight: MAX_IN_FLIGHT,
    maxRequests: RATE * (EDITS * ((EDIT_TIMEOUT_MS + PAUSE_MAX) / 1000) + 60),
    maxDurationMs: EDITS * (EDIT_TIMEOUT_MS + PAUSE_MAX) + 60_000,
    onResponse(at, res) {
      const header = res.headers[EDIT_HEADER];
      const m = typeof header === 'string' ? /^bench-edit-(\d+)$/.exec(header) : null;
      if (!m) return;
      const n = Number(m[1]);
      const backend = res.headers['x-figway-backend'];
      const wanted = n % 2 === 1 ? 'orders' : 'monolith';
      if (n > 0 && typeof backend === 'string' && !backend.includes(wanted)) mismatched += 1;
      if (n < highest) regressions += 1;
      highest = Math.max(highest, n);
      if (!firstResponse.has(n)) {
        firstResponse.set(n, at);
        waiters.get(n)?.();
      }
    },
  });
  const cmList = await kube.get(
    `/api/v1/namespaces/${NAMESPACE}/configmaps?fieldSelector=metadata.name%3D${CONFIGMAP}`,
  );
  const cmWatch = kube.watch<{ data?: Record<string, string> }>(
    `/api/v1/namespaces/${NAMESPACE}/configmaps`,
    {
      fieldSelector: `metadata.name=${CONFIGMAP}`,
      resourceVersion: cmList.metadata.resourceVersion,
      timeoutSeconds: '1800',
    },
    (event) => {
      const at = performance.now();
      const m = /bench-edit-(\d+)/.exec(event.object.data?.['routes.json'] ?? '');
      if (m && !configMapSeen.has(Number(m[1]))) configMapSeen.set(Number(m[1]), at);
    },
  );

  load.start();
  await sleep(2_000); // the load is steady before the first edit
  const operatorCpu = new ProcSampler(operator.child.pid);
  const gatewayCpu = new ProcSampler(gateway.child.pid);
  const cpuStart = { op: operatorCpu.take(), gw: gatewayCpu.take() };
  const samples: Sample[] = [];
  const loadDuring = loadAverage();
  log(`load average ${loadDuring}; ${EDITS} edits under ${RATE} req/s`);
  for (let n = 1; n <= EDITS; n++) {
    // A random pause, so edits never line up with a periodic timer anywhere.
    await sleep(PAUSE_MIN + Math.random() * (PAUSE_MAX - PAUSE_MIN));
    const seen = new Promise<void>((resolve) => {
      waiters.set(n, resolve);
    });
    const t0 = performance.now();
    await kube.mergePatch(`${APIROUTE_PATH}/${NAME}`, { spec: { routes: routes(n) } });
    const apiMs = performance.now() - t0;
    await Promise.race([seen, sleep(EDIT_TIMEOUT_MS)]);
    waiters.delete(n);
    const response = firstResponse.get(n);
    samples.push({
      edit: n,
      t0,
      apiMs,
      // Filled in at the end: our watch may see the ConfigMap a moment after the gateway did.
      configMapMs: undefined,
      responseMs: response === undefined ? undefined : response - t0,
    });
    if (response === undefined)
      log(`edit ${n}: no response reflected it within ${EDIT_TIMEOUT_MS} ms`);
    if (n % 20 === 0) log(`${n}/${EDITS} edits`);
  }
  await sleep(1_000);
  const stats = await load.stop();
  cmWatch.stop();
  for (const sample of samples) {
    const cm = configMapSeen.get(sample.edit);
    if (cm !== undefined) sample.configMapMs = cm - sample.t0;
  }
  const opEnd = operatorCpu.stop();
  const gwEnd = gatewayCpu.stop();
  const loadAfter = loadAverage();
  const breakdown = operatorBreakdown(samples, (await readRequestLog(operator)).trace ?? []);

  const col = (pick: (s: Sample) => number | undefined) => {
    const values = samples.map(pick).filter((v): v is number => v !== undefined);
    return [
      ms(percentile(values, 50)),
      ms(percentile(values, 90)),
      ms(percentile(values, 99)),
      ms(Math.max(...values)),
      `${values.length}/${samples.length}`,
    ];
  };
  const respValues = samples.map((s) => s.responseMs).filter((v): v is number => v !== undefined);
  const p99 = percentile(respValues, 99);
  const missing = samples.length - respValues.length;
  const failed = load.failed;
  const out: string[] = [];
  out.push('', `Figway propagation benchmark (${env.built.revision})`);
  out.push(`machine: ${machine()}`);
  out.push(
    `load average (1/5/15 min): before ${loadBefore}; at first edit ${loadDuring}; after ${loadAfter}`,
  );
  out.push(
    `setup: real kube-apiserver + etcd (test/cluster), operator and gateway as separate node processes on 127.0.0.1; gateway watches ConfigMap ${NAMESPACE}/${CONFIGMAP}`,
  );
  out.push(...crdNote(env));
  out.push(
    `load: ${RATE} req/s steady through the gateway (${stats.sent} requests in ${(stats.durationMs / 1000).toFixed(1)} s, at most ${MAX_IN_FLIGHT} in flight); ${EDITS} edits, weight flipped 0 <-> 100 each time, ${PAUSE_MIN}-${PAUSE_MAX} ms after the previous edit was seen`,
    '',
  );
  out.push(
    table([
      ['from the PATCH to ...', 'p50', 'p90', 'p99', 'max', 'seen'],
      ['API server answered the PATCH', ...col((s) => s.apiMs)],
      ['ConfigMap updated (our watch saw it)', ...col((s) => s.configMapMs)],
      ['first response reflecting the edit', ...col((s) => s.responseMs)],
    ]),
    '',
    'where the operator spends it (its own API requests, timed in the operator process):',
    table([
      ['from the PATCH to ...', 'p50', 'p90', 'p99', 'max', 'seen'],
      ...breakdown.rows.map(([label, values]) => [
        label,
        ms(percentile(values, 50)),
        ms(percentile(values, 90)),
        ms(percentile(values, 99)),
        ms(Math.max(...values)),
        `${values.length}/${samples.length}`,
      ]),
    ]),
    `operator API requests per edit (until the next edit): ${breakdown.requestsPerEdit}`,
    '',
  );
  const errorList = [...stats.errors].map(([m, c]) => `${c} x ${m}`);
  const statusList = [...stats.badStatus].map(([s, c]) => `${c} x HTTP ${s}`);
  out.push(
    `failed requests: ${failed} of ${stats.sent}${failed > 0 ? ` (${[...statusList, ...errorList].join(', ')})` : ''}; skipped by the in-flight cap: ${stats.skipped}`,
  );
  out.push(
    `load request latency: p50 ${ms(percentile(stats.latencies, 50))}, p99 ${ms(percentile(stats.latencies, 99))}, max ${ms(Math.max(...stats.latencies))}`,
  );
  const cmMissed = samples.filter((s) => s.configMapMs === undefined).map((s) => s.edit);
  if (cmMissed.length > 0) {
    out.push(`edits whose ConfigMap update our watch did not see: ${cmMissed.join(', ')}`);
  }
  out.push(
    `consistency: ${mismatched} responses whose backend disagreed with their edit's weights; ${regressions} responses older than one already seen; ${missing} edits never seen`,
  );
  if (opEnd && gwEnd && cpuStart.op && cpuStart.gw) {
    out.push(
      `CPU during the edits: operator ${(opEnd.cpuSeconds - cpuStart.op.cpuSeconds).toFixed(2)} s, gateway ${(gwEnd.cpuSeconds - cpuStart.gw.cpuSeconds).toFixed(2)} s (the gateway also served the load); peak RSS operator ${(opEnd.peakRssBytes / 2 ** 20).toFixed(0)} MiB, gateway ${(gwEnd.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  }
  out.push('');
  out.push(
    `target p99 < 1 s: ${verdict(p99 < 1000 && missing === 0)} (p99 ${ms(p99)}); target 0 failed requests: ${verdict(failed === 0)}`,
  );
  out.push(
    'for comparison, published figures: about 2 s per change for Traefik, 3 s for Kong, 2.6 s for 200 routes in Envoy Gateway',
  );
  out.push(`logs: ${env.dir}/logs`, '');
  process.stdout.write(out.join('\n'));
  await monolith.close();
  await orders.close();
});
