// What every control-plane benchmark needs: the real test control plane, the ApiRoute CRD,
// the operator running as a ServiceAccount, gateways, and everything stopped at the end.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ensureBinaries, startCluster, type Cluster } from '../../test/cluster/harness.js';
import { buildForBench, deployedGatewayNodeFlags, ROOT, type Built } from './build.js';
import { ensureNamespace, installCrd, Kube, serviceAccountKubeconfig } from './kube.js';
import { cleanupAll, onCleanup, startChild, type Child } from './procs.js';

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export interface BenchEnv {
  cluster: Cluster;
  kube: Kube;
  built: Built;
  /** Logs of the operator and gateways; kept after the run. */
  dir: string;
  /** CEL rules of the CRD the API server refused as too costly (see installCrd). */
  droppedCrdRules: string[];
}

/** Builds src, starts the control plane and installs the CRD. Stopped by cleanupAll(). */
export async function startEnv(): Promise<BenchEnv> {
  // The operator and gateway run on this process's node: it must be the project's.
  if (Number(process.versions.node.split('.')[0]) < 24) {
    throw new Error(
      `Node ${process.version}: run the benchmarks with npm run (the project's Node 24 comes first on its PATH)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'figway-bench-'));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const built = buildForBench();
  const binDir = await ensureBinaries({ log });
  const cluster = await startCluster({ binDir, handleSignals: false, log });
  onCleanup(() => cluster.stop());
  const kube = new Kube(cluster);
  onCleanup(() => {
    kube.close();
    return Promise.resolve();
  });
  const droppedCrdRules = await installCrd(kube, join(ROOT, 'crds', 'figway.dev_apiroutes.yaml'));
  for (const rule of droppedCrdRules) {
    log(
      `WARNING: the API server refused this CRD rule as over the CEL cost budget; installed the CRD without it: ${rule}`,
    );
  }
  return { cluster, kube, built, dir, droppedCrdRules };
}

/** An output line about CRD rules dropped to install it at all, or nothing. */
export function crdNote(env: BenchEnv): string[] {
  return env.droppedCrdRules.map(
    (rule) =>
      `NOTE: crds/ is refused by kube-apiserver (CEL cost budget); measured with the CRD minus this rule: ${rule}`,
  );
}

/** Runs `main` and always stops what it started; exit code 1 on failure. */
export async function runBench(main: () => Promise<void>): Promise<void> {
  let code = 0;
  try {
    await main();
  } catch (error) {
    code = 1;
    process.stderr.write(`[bench] FAILED: ${(error as Error).stack ?? String(error)}\n`);
  } finally {
    await cleanupAll();
  }
  process.exit(code);
}

/** Thrown by a waitUntil check to stop waiting at once (e.g. the process exited). */
export class GiveUp extends Error {}

export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean> | boolean,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = ` (last error: ${(error as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last}`);
    await sleep(intervalMs);
  }
}

async function httpGet(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

export interface Operator {
  child: Child;
  adminPort: number;
  /** Set when started with countRequests. */
  requestLog?: string;
}

/**
 * Starts `figway operator` as ServiceAccount figway-system/figway-operator (bound to
 * cluster-admin), with leader election as in production, and waits until it leads.
 */
export async function startOperator(
  env: BenchEnv,
  opts: {
    adminPort: number;
    /** Count its API requests (count-requests.ts); `trace` also times each one. */
    countRequests?: boolean;
    trace?: boolean;
    args?: string[];
    nodeArgs?: string[];
  },
): Promise<Operator> {
  await ensureNamespace(env.kube, 'figway-system');
  const kubeconfig = await serviceAccountKubeconfig(env.kube, {
    namespace: 'figway-system',
    name: 'figway-operator',
    clusterRole: 'cluster-admin',
    file: join(env.dir, 'operator.kubeconfig'),
  });
  const requestLog =
    opts.countRequests || opts.trace ? join(env.dir, 'operator-requests.json') : undefined;
  const child = startChild(
    'operator',
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      ...(requestLog ? ['--import', env.built.requestCounter] : []),
      env.built.cli,
      'operator',
      `--kubeconfig=${kubeconfig}`,
      `--admin-port=${opts.adminPort}`,
      '--admin-address=127.0.0.1',
      '--leader-election-namespace=figway-system',
      ...(opts.args ?? []),
    ],
    {
      logFile: join(env.dir, 'logs', 'operator.log'),
      env: {
        ...process.env,
        ...(requestLog && { FIGWAY_BENCH_REQUEST_LOG: requestLog }),
        ...(opts.trace && { FIGWAY_BENCH_REQUEST_TRACE: '1' }),
      },
    },
  );
  await waitUntil('operator leading', 60_000, async () => {
    if (child.exit) throw new GiveUp(`operator exited; see ${child.logFile}`);
    const metrics = await httpGet(`http://127.0.0.1:${opts.adminPort}/metrics`);
    return /^figway_operator_leader 1$/m.test(metrics.text);
  });
  return { child, adminPort: opts.adminPort, ...(requestLog && { requestLog }) };
}

export interface RequestLog {
  seq: number;
  counts: Record<string, number>;
  /** [start, response headers, "verb resource path", status], Unix ms. */
  trace?: [number, number, string, number][];
}

/** The operator's API requests so far (it must run with countRequests or trace). */
export async function readRequestLog(operator: Operator): Promise<RequestLog> {
  const file = operator.requestLog;
  if (!file) throw new Error('the operator was started without countRequests');
  const read = (): RequestLog | undefined => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as RequestLog;
    } catch {
      return undefined;
    }
  };
  const before = read()?.seq ?? 0;
  process.kill(operator.child.pid, 'SIGUSR2');
  await waitUntil(
    'the operator to write its request counts',
    10_000,
    () => (read()?.seq ?? 0) > before,
  );
  const got = read();
  if (!got) throw new Error(`cannot read ${file}`);
  return got;
}

export interface Gateway {
  child: Child;
  port: number;
  adminPort: number;
}

/** Starts `figway gateway` on its ConfigMap with the given kubeconfig; waits for /readyz. */
export async function startGateway(
  env: BenchEnv,
  opts: {
    configMap: string;
    namespace: string;
    kubeconfig: string;
    port: number;
    adminPort: number;
    resolve: Record<string, string>;
    name?: string;
  },
): Promise<Gateway> {
  const child = startChild(
    opts.name ?? 'gateway',
    process.execPath,
    [
      ...deployedGatewayNodeFlags(),
      env.built.cli,
      'gateway',
      '--configmap',
      opts.configMap,
      '--namespace',
      opts.namespace,
      '--host',
      '127.0.0.1',
      '--port',
      String(opts.port),
      '--admin-port',
      String(opts.adminPort),
      ...Object.entries(opts.resolve).flatMap(([svc, url]) => ['--resolve', `${svc}=${url}`]),
    ],
    {
      logFile: join(env.dir, 'logs', `${opts.name ?? 'gateway'}.log`),
      env: { ...process.env, KUBECONFIG: opts.kubeconfig },
    },
  );
  await waitUntil('gateway /readyz', 60_000, async () => {
    if (child.exit) throw new GiveUp(`gateway exited; see ${child.logFile}`);
    return (await httpGet(`http://127.0.0.1:${opts.adminPort}/readyz`)).status === 200;
  });
  return { child, port: opts.port, adminPort: opts.adminPort };
}

export { httpGet, sleep };
