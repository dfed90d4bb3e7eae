// Child processes for end-to-end tests (figway operator, figway gateway, prometheus): each
// writes to its own log file, is stopped by its own pid (SIGTERM, then SIGKILL after a
// grace period), and is never left running when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './chart.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  readonly pid: number;
  readonly name: string;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** undefined while running. */
  exitInfo(): ExitInfo | undefined;
  log(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves with how it exited. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  options: StartOptions = {},
): RunningProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on('exit', (code, signal) => {
      info = { code, signal };
      resolve(info);
    });
  });
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    pid,
    name,
    logFile,
    exited,
    exitInfo: () => info,
    log: readLog,
    async stop(graceMs = 15_000) {
      if (info) return info;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!info) child.kill('SIGKILL');
      }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** `figway ARGS` from the TypeScript sources, with the Node that runs the tests (24). */
export function startFigway(
  name: string,
  args: string[],
  logFile: string,
  options: StartOptions = {},
): RunningProcess {
  const tsx = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  return startProcess(
    name,
    process.execPath,
    [tsx, join(REPO_ROOT, 'src', 'cli.ts'), ...args],
    logFile,
    options,
  );
}

/**
 * `figway ARGS` in one process (tsx as Node's --import hook), for tests that SIGKILL it:
 * startFigway's tsx CLI runs the program in a child process and relays signals, so a
 * SIGKILL there would kill only tsx and leave the program running.
 */
export function startFigwayKillable(
  name: string,
  args: string[],
  logFile: string,
  options: StartOptions = {},
): RunningProcess {
  return startProcess(
    name,
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args],
    logFile,
    options,
  );
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Thrown inside an `eventually` callback to stop waiting at once (e.g. the process died). */
export class GiveUpError extends Error {}

/**
 * Polls `fn` until it returns something other than undefined. On timeout the error names
 * what was awaited and the last failure.
 */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUpError) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const cause = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

/** GET over HTTP on loopback; resolves with status and body text. */
export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Waits until `process` answers 200 on url; fails early with its log if it exits. */
export async function waitForHttp(
  proc: RunningProcess,
  url: string,
  timeoutMs = 60_000,
): Promise<void> {
  await eventually(
    `${proc.name} to answer ${url}`,
    async () => {
      const exit = proc.exitInfo();
      if (exit) {
        throw new GiveUpError(`${proc.name} exited (${JSON.stringify(exit)}); log ${proc.logFile}`);
      }
      const { status } = await httpGet(url);
      return status === 200 ? true : undefined;
    },
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(
      `${(error as Error).message}\n--- ${proc.name} log ---\n${proc.log().slice(-3000)}`,
    );
  });
}
