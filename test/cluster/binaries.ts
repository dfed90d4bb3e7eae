// The binaries of the test control plane, built from published Go modules by build.sh
// and cached outside the repository.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { killNow } from './processes.js';

export const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** Thrown when the binaries cannot be built because Go is missing and CI is not 'true'. */
export class BinariesUnavailableError extends Error {
  readonly code = 'FIGWAY_BINARIES_UNAVAILABLE';
}

const defaultLog = (message: string): void => {
  process.stderr.write(`[figway cluster] ${message}\n`);
};

const BUILD_TIMEOUT_MS = 90 * 60_000;

/**
 * Builds the binaries or finds them in the cache (see build.sh); returns their directory.
 * FIGWAY_K8S_BIN_DIR points at prebuilt binaries instead.
 */
export async function ensureBinaries(opts: { log?: (m: string) => void } = {}): Promise<string> {
  const log = opts.log ?? defaultLog;
  const override = process.env.FIGWAY_K8S_BIN_DIR;
  if (override) {
    const missing = COMPONENTS.filter((c) => !existsSync(join(override, c)));
    if (missing.length > 0) {
      throw new Error(`FIGWAY_K8S_BIN_DIR=${override} lacks ${missing.join(', ')}`);
    }
    return override;
  }
  const script = fileURLToPath(new URL('./build.sh', import.meta.url));
  const started = Date.now();
  // Its own process group, so that a timeout or an interruption stops go and its
  // compilers too, not only the shell.
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const killBuild = (): void => {
    if (child.pid && child.exitCode === null) killNow(child.pid, 'bash');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping build.sh`);
    killBuild();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', killBuild);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const timer = setTimeout(() => {
    log(`build.sh still running after ${BUILD_TIMEOUT_MS / 60_000} minutes: killing it`);
    killBuild();
  }, BUILD_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => {
      resolve([null, null]);
    });
    child.once('close', (c, s) => {
      resolve([c, s]);
    });
  }).finally(() => {
    clearTimeout(timer);
    for (const s of signals) process.off(s, onSignal);
    process.off('exit', killBuild);
  });
  if (code === 3) {
    throw new BinariesUnavailableError(
      'no Go >= 1.26 on this machine (see the build.sh message above), so the test control plane (etcd, kube-apiserver, ...) cannot be built',
    );
  }
  if (code !== 0) {
    throw new Error(
      `building the test control plane failed (${script} ${signal ? `killed by ${signal}` : `exit ${code}`}); ` +
        'the messages above name the component and its build log',
    );
  }
  const binDir = stdout.trim().split('\n').pop() ?? '';
  if (!binDir || !existsSync(binDir))
    throw new Error(`build.sh printed no binary directory: ${stdout}`);
  const seconds = (Date.now() - started) / 1000;
  if (seconds > 5) log(`binaries built in ${seconds.toFixed(0)}s: ${binDir}`);
  return binDir;
}
