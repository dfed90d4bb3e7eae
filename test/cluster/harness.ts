// A real Kubernetes control plane on 127.0.0.1 for integration tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which plays the
// kubelet of one fake node, so pods are scheduled and become Ready without containers).
// Binaries come from build.sh; every component is a child process in its own process
// group, stopped by pid, with its output in <dir>/logs/<component>.log.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { COMPONENTS, ensureBinaries, type ComponentName } from './binaries.js';
import {
  componentSpecs,
  etcdUrl as etcdUrlOf,
  fakeNode,
  logFile,
  NODE_NAME,
} from './components.js';
import { apiRequest, freePorts, httpRequest, portIsFree, type ApiTarget } from './net.js';
import { makePki } from './pki.js';
import {
  describeExit,
  isAlive,
  killNow,
  startComponent,
  stopPid,
  tailFile,
  type ComponentSpec,
  type RunningComponent,
} from './processes.js';

export { apiRequest, type ApiTarget, type HttpResponse } from './net.js';
export {
  BinariesUnavailableError,
  COMPONENTS,
  ensureBinaries,
  type ComponentName,
} from './binaries.js';
export { NODE_NAME } from './components.js';

/** Set by the Jest global setup for the test workers: the administrator's kubeconfig. */
export const ENV_KUBECONFIG = 'KUBECONFIG_FIGWAY_TEST';
/** Path of the cluster's state file, for attachCluster() and the global teardown. */
export const ENV_STATE = 'FIGWAY_TEST_CLUSTER_STATE';
/** Set (to the reason) when there is no cluster and integration tests must skip. */
export const ENV_SKIP = 'FIGWAY_TEST_CLUSTER_SKIP';

export interface Cluster {
  /** Kubeconfig of a cluster administrator (group system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Bearer token of the administrator in kubeconfigPath. */
  token: string;
  /** CA that signed the API server's serving certificate. */
  caFile: string;
  dir: string;
  stateFile: string;
  binDir: string;
  nodeName: string;
  logs: Record<ComponentName, string>;
  stop(): Promise<void>;
  /** Stops kube-apiserver and starts it again on the same port with the same flags. */
  restartApiServer(): Promise<void>;
}

export interface StartClusterOptions {
  /** Directory with the binaries; default: ensureBinaries(). */
  binDir?: string;
  /** Working directory (kept at stop); default: a new temporary directory (removed at stop). */
  dir?: string;
  /** Tear down on SIGINT/SIGTERM and kill on process exit (default true). */
  handleSignals?: boolean;
  log?: (message: string) => void;
}

/** A component failed: the message names it and its log file, with the log's last lines. */
export class ComponentError extends Error {
  constructor(
    message: string,
    readonly component: string,
    readonly logFile: string,
    readonly portInUse = false,
  ) {
    super(
      `${message}\n  log: ${logFile}\n  last lines of the log:\n${indent(tailFile(logFile, 25))}`,
    );
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

const defaultLog = (message: string): void => {
  process.stderr.write(`[figway cluster] ${message}\n`);
};

// ---------------------------------------------------------------------------------------
// State, shared between the process that started the cluster, Jest workers and teardown

interface ComponentState {
  spec: ComponentSpec;
  pid: number;
  /** Port of its health endpoint, if it serves one. */
  port?: number;
}

interface ClusterState {
  version: 1;
  ownerPid: number;
  dir: string;
  removeDir: boolean;
  binDir: string;
  kubeconfigPath: string;
  server: string;
  token: string;
  caFile: string;
  apiServerPort: number;
  components: Partial<Record<ComponentName, ComponentState>>;
  /** Pids being stopped on purpose, by whichever process: their exit is no crash. */
  stopping: number[];
}

function writeState(file: string, state: ClusterState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, file);
}

function readState(file: string): ClusterState {
  const state = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  if (state.version !== 1) throw new Error(`unknown cluster state version in ${file}`);
  return state as ClusterState;
}

// ---------------------------------------------------------------------------------------
// Kubeconfig

function kubeconfig(server: string, caPem: Buffer, user: string, token: string): string {
  const q = (s: string): string => JSON.stringify(s);
  return `apiVersion: v1
kind: Config
clusters:
- name: figway-test
  cluster:
    server: ${q(server)}
    certificate-authority-data: ${q(caPem.toString('base64'))}
users:
- name: ${q(user)}
  user:
    token: ${q(token)}
contexts:
- name: figway-test
  context:
    cluster: figway-test
    user: ${q(user)}
current-context: figway-test
`;
}

// ---------------------------------------------------------------------------------------
// Waiting

interface WaitOptions {
  component: ComponentName;
  logFile: string;
  what: string;
  timeoutMs: number;
  /** Components whose exit ends the wait with an error. */
  watch: RunningComponent[];
  /** Resolves true when ready; false or a throw means not yet (the message is kept). */
  check: () => Promise<boolean>;
}

const PORT_IN_USE = /address already in use|bind: address|EADDRINUSE/i;

function exitError(proc: RunningComponent, during: string): ComponentError {
  const exit = proc.exit ?? { code: null, signal: null };
  const portInUse = PORT_IN_USE.test(tailFile(proc.spec.logFile, 60));
  return new ComponentError(
    `${proc.spec.name} ${describeExit(exit)} ${during}${portInUse ? ' (a port it needs is already in use)' : ''}`,
    proc.spec.name,
    proc.spec.logFile,
    portInUse,
  );
}

async function waitFor(opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: string;
  for (;;) {
    const dead = opts.watch.find((p) => p.exit !== undefined);
    if (dead) throw exitError(dead, `while waiting for ${opts.what}`);
    try {
      if (await opts.check()) return;
      last = 'not ready';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new ComponentError(
        `${opts.component}: ${opts.what} not reached within ${opts.timeoutMs / 1000}s (last: ${last})`,
        opts.component,
        opts.logFile,
      );
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------
// Clusters alive in this process, for signal and exit handlers

// Per process, not per module instance: Jest's global setup and teardown each load their
// own copy of this module.
interface ProcessRegistry {
  owned: Set<string>; // state files of clusters this process started
  expectedExits: Set<number>; // pids stopped on purpose: no crash warning
  handlersInstalled: boolean;
}
const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for('figway.testCluster')] ??= {
  owned: new Set<string>(),
  expectedExits: new Set<number>(),
  handlersInstalled: false,
}) as ProcessRegistry;
const { owned, expectedExits } = registry;

function installHandlers(log: (m: string) => void): void {
  if (registry.handlersInstalled) return;
  registry.handlersInstalled = true;
  // 'exit' handlers cannot wait: kill what is left at once.
  process.on('exit', () => {
    for (const file of owned) killAllNow(file);
  });
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (owned.size === 0) {
      process.exit(code);
    }
    log(`${signal}: stopping the test cluster`);
    const stops = [...owned].map((file) => attachCluster(file).then((c) => c.stop()));
    // Bounded: a hung stop must not keep the process alive; the exit handler kills.
    void Promise.race([Promise.allSettled(stops), sleep(30_000)]).finally(() => {
      log('stopped');
      process.exit(code);
    });
  };
  process.once('SIGINT', () => {
    onSignal('SIGINT', 130);
  });
  process.once('SIGTERM', () => {
    onSignal('SIGTERM', 143);
  });
  process.once('SIGHUP', () => {
    onSignal('SIGHUP', 129);
  });
}

function stoppedOnPurpose(stateFile: string, pid: number): boolean {
  try {
    return readState(stateFile).stopping.includes(pid);
  } catch {
    return true; // no state file: the cluster was stopped
  }
}

/** After start-up a crash is no error of startCluster: say so where it is seen. */
function warnOnCrash(proc: RunningComponent, stateFile: string, log: (m: string) => void): void {
  void proc.exited.then((exit) => {
    if (!expectedExits.has(proc.pid) && !stoppedOnPurpose(stateFile, proc.pid)) {
      log(`WARNING: ${proc.spec.name} ${describeExit(exit)}; log: ${proc.spec.logFile}`);
    }
  });
}

function killAllNow(stateFile: string): void {
  try {
    const state = readState(stateFile);
    for (const c of Object.values(state.components)) killNow(c.pid, c.spec.command);
    if (state.removeDir && !process.env.FIGWAY_KEEP_CLUSTER_DIR) {
      rmSync(state.dir, { recursive: true, force: true });
    }
  } catch {
    // Nothing more can be done while exiting.
  }
}

// ---------------------------------------------------------------------------------------
// The cluster

const STOP_ORDER: ComponentName[][] = [
  ['kwok', 'kube-scheduler', 'kube-controller-manager'],
  ['kube-apiserver'],
  ['etcd'],
];

class LocalCluster implements Cluster {
  readonly nodeName = NODE_NAME;
  private stopped = false;

  constructor(
    readonly stateFile: string,
    private state: ClusterState,
    private readonly log: (m: string) => void,
  ) {}

  get kubeconfigPath(): string {
    return this.state.kubeconfigPath;
  }
  get server(): string {
    return this.state.server;
  }
  get token(): string {
    return this.state.token;
  }
  get caFile(): string {
    return this.state.caFile;
  }
  get dir(): string {
    return this.state.dir;
  }
  get binDir(): string {
    return this.state.binDir;
  }
  get logs(): Record<ComponentName, string> {
    const logs = {} as Record<ComponentName, string>;
    for (const name of COMPONENTS) logs[name] = logFile(this.state.dir, name);
    return logs;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Another process (a Jest worker) may have restarted a component: trust the file.
    if (existsSync(this.stateFile)) this.state = readState(this.stateFile);
    this.state.stopping.push(...Object.values(this.state.components).map((c) => c.pid));
    if (existsSync(this.stateFile)) writeState(this.stateFile, this.state);
    const errors: string[] = [];
    for (const group of STOP_ORDER) {
      await Promise.all(
        group.map(async (name) => {
          const c = this.state.components[name];
          if (!c) return;
          try {
            expectedExits.add(c.pid);
            await stopPid(c.pid, c.spec.command);
          } catch (err) {
            errors.push(`${name}: ${(err as Error).message}`);
          }
        }),
      );
    }
    owned.delete(this.stateFile);
    if (errors.length > 0) throw new Error(`stopping the test cluster: ${errors.join('; ')}`);
    // Nothing left to stop: a later attach or exit handler must not act on old pids.
    rmSync(this.stateFile, { force: true });
    if (this.state.removeDir && !process.env.FIGWAY_KEEP_CLUSTER_DIR) {
      rmSync(this.state.dir, { recursive: true, force: true });
    }
  }

  async restartApiServer(): Promise<void> {
    this.state = readState(this.stateFile);
    const c = this.state.components['kube-apiserver'];
    if (!c) throw new Error('kube-apiserver is not part of this cluster');
    expectedExits.add(c.pid);
    this.state.stopping.push(c.pid);
    writeState(this.stateFile, this.state);
    await stopPid(c.pid, c.spec.command);
    const port = this.state.apiServerPort;
    await waitFor({
      component: 'kube-apiserver',
      logFile: c.spec.logFile,
      what: `port ${port} to be released`,
      timeoutMs: 30_000,
      watch: [],
      check: () => portIsFree(port),
    });
    // Only the owner ties the new process to its own life; a Jest worker exits early.
    const proc = startComponent(c.spec, { dieWithParent: this.state.ownerPid === process.pid });
    this.state.components['kube-apiserver'] = { ...c, pid: proc.pid };
    writeState(this.stateFile, this.state);
    await waitFor({
      component: 'kube-apiserver',
      logFile: c.spec.logFile,
      what: '/readyz after restart',
      timeoutMs: 120_000,
      watch: [proc],
      check: () => apiReady(this.state),
    });
    warnOnCrash(proc, this.stateFile, this.log);
    this.log(`kube-apiserver restarted (pid ${proc.pid})`);
  }
}

async function apiReady(target: ApiTarget): Promise<boolean> {
  const res = await apiRequest(target, 'GET', '/readyz', undefined, { timeoutMs: 5_000 });
  if (res.status !== 200) throw new Error(`/readyz ${res.status}: ${res.body.slice(0, 500)}`);
  return true;
}

/** A handle on a cluster started elsewhere (by the Jest global setup), from its state file. */
export function attachCluster(stateFile = process.env[ENV_STATE]): Promise<Cluster> {
  if (!stateFile)
    return Promise.reject(new Error(`${ENV_STATE} is not set: no test cluster was started`));
  return Promise.resolve(new LocalCluster(stateFile, readState(stateFile), defaultLog));
}

/** True if the cluster described by the state file still has a live API server. */
export function clusterIsAlive(stateFile: string): boolean {
  try {
    const c = readState(stateFile).components['kube-apiserver'];
    return c !== undefined && isAlive(c.pid, c.spec.command);
  } catch {
    return false;
  }
}

/** Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? defaultLog;
  const binDir = opts.binDir ?? (await ensureBinaries({ log }));
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'figway-cluster-'));
  mkdirSync(dir, { recursive: true });
  // Ports are picked free and then released, so another process can take one first:
  // that shows up as a component failing to bind, and is worth a fresh set of ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binDir, dir, opts.dir === undefined, opts.handleSignals ?? true, log);
    } catch (err) {
      if (err instanceof ComponentError && err.portInUse && attempt < 3) {
        log(`${err.component} could not bind its port; retrying with new ports`);
        continue;
      }
      throw err;
    }
  }
}

async function startOnce(
  binDir: string,
  dir: string,
  removeDir: boolean,
  handleSignals: boolean,
  log: (m: string) => void,
): Promise<Cluster> {
  const started = Date.now();
  const logDir = join(dir, 'logs');
  const etcdDir = join(dir, 'etcd');
  rmSync(etcdDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const pki = await makePki(join(dir, 'pki'));
  const caPem = readFileSync(pki.caCert);
  const [etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedulerPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const server = `https://127.0.0.1:${apiPort}`;
  const writeKubeconfig = (name: string, user: string, token: string): string => {
    const file = join(dir, `${name}.kubeconfig`);
    writeFileSync(file, kubeconfig(server, caPem, user, token), { mode: 0o600 });
    return file;
  };
  const kubeconfigPath = writeKubeconfig('admin', 'figway-test-admin', pki.tokens.admin);
  const kubeconfigs = {
    controllerManager: writeKubeconfig(
      'controller-manager',
      'system:kube-controller-manager',
      pki.tokens.controllerManager,
    ),
    scheduler: writeKubeconfig('scheduler', 'system:kube-scheduler', pki.tokens.scheduler),
    kwok: writeKubeconfig('kwok', 'kwok', pki.tokens.kwok),
  };
  const ports = {
    etcdClient: etcdClientPort,
    etcdPeer: etcdPeerPort,
    apiServer: apiPort,
    controllerManager: kcmPort,
    scheduler: schedulerPort,
  };
  const etcdUrl = etcdUrlOf(ports);
  const specs = componentSpecs({
    binDir,
    dir,
    pki,
    ports,
    kubeconfigs,
  });

  const stateFile = join(dir, 'cluster.json');
  const state: ClusterState = {
    version: 1,
    ownerPid: process.pid,
    dir,
    removeDir,
    binDir,
    kubeconfigPath,
    server,
    token: pki.tokens.admin,
    caFile: pki.caCert,
    apiServerPort: apiPort,
    components: {},
    stopping: [],
  };
  const cluster = new LocalCluster(stateFile, state, log);
  const start = (name: ComponentName, port?: number): RunningComponent => {
    const proc = startComponent(specs[name], { dieWithParent: true });
    state.components[name] = { spec: specs[name], pid: proc.pid, ...(port ? { port } : {}) };
    writeState(stateFile, state);
    return proc;
  };
  owned.add(stateFile);
  writeState(stateFile, state);
  if (handleSignals) installHandlers(log);

  try {
    const etcd = start('etcd');
    await waitFor({
      component: 'etcd',
      logFile: etcd.spec.logFile,
      what: 'a healthy etcd',
      timeoutMs: 30_000,
      watch: [etcd],
      check: async () => {
        const res = await httpRequest(new URL('/health', etcdUrl), { timeoutMs: 2_000 });
        if (!res.body.includes('"health":"true"'))
          throw new Error(`/health ${res.status}: ${res.body}`);
        return true;
      },
    });

    const apiserver = start('kube-apiserver');
    await waitFor({
      component: 'kube-apiserver',
      logFile: apiserver.spec.logFile,
      what: '/readyz',
      timeoutMs: 120_000,
      watch: [etcd, apiserver],
      check: () => apiReady(state),
    });
    log(`kube-apiserver ready at ${server} after ${((Date.now() - started) / 1000).toFixed(1)}s`);

    const node = fakeNode();
    const created = await apiRequest(state, 'POST', '/api/v1/nodes', node);
    if (created.status !== 201 && created.status !== 409) {
      throw new Error(`creating node ${NODE_NAME}: ${created.status} ${created.body}`);
    }

    const kcm = start('kube-controller-manager', kcmPort);
    const scheduler = start('kube-scheduler', schedulerPort);
    const kwok = start('kwok');
    const all = [etcd, apiserver, kcm, scheduler, kwok];
    const healthz = (port: number) => async (): Promise<boolean> => {
      const res = await httpRequest(new URL(`https://127.0.0.1:${port}/healthz`), {
        insecure: true,
        timeoutMs: 2_000,
      });
      if (res.status !== 200) throw new Error(`/healthz ${res.status}: ${res.body.slice(0, 300)}`);
      return true;
    };
    await Promise.all([
      waitFor({
        component: 'kube-controller-manager',
        logFile: kcm.spec.logFile,
        what: '/healthz',
        timeoutMs: 60_000,
        watch: all,
        check: healthz(kcmPort),
      }),
      waitFor({
        component: 'kube-scheduler',
        logFile: scheduler.spec.logFile,
        what: '/healthz',
        timeoutMs: 60_000,
        watch: all,
        check: healthz(schedulerPort),
      }),
      waitFor({
        component: 'kwok',
        logFile: kwok.spec.logFile,
        what: `node ${NODE_NAME} Ready`,
        timeoutMs: 60_000,
        watch: all,
        check: async () => {
          const res = await apiRequest(state, 'GET', `/api/v1/nodes/${NODE_NAME}`);
          const conditions =
            (
              JSON.parse(res.body) as {
                status?: { conditions?: { type: string; status: string }[] };
              }
            ).status?.conditions ?? [];
          return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        },
      }),
      // The service-account controller runs with its own credentials: proof that the
      // controller manager works, and pods cannot be admitted before it has run.
      waitFor({
        component: 'kube-controller-manager',
        logFile: kcm.spec.logFile,
        what: 'ServiceAccount default/default',
        timeoutMs: 60_000,
        watch: all,
        check: async () =>
          (await apiRequest(state, 'GET', '/api/v1/namespaces/default/serviceaccounts/default'))
            .status === 200,
      }),
    ]);
    for (const p of all) warnOnCrash(p, stateFile, log);
    log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s (dir ${dir})`);
    return cluster;
  } catch (err) {
    // Keep the directory: the error names log files in it.
    state.removeDir = false;
    writeState(stateFile, state);
    await cluster.stop().catch((e: unknown) => {
      log(`cleanup after a failed start: ${(e as Error).message}`);
    });
    throw err;
  }
}
