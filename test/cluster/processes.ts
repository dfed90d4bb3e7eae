// Child processes of the test control plane: started in their own process group with
// output in a log file, watched for early exit, and stopped by process group id.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** What is needed to start a component again, e.g. after a restart, from any process. */
export interface ComponentSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: Record<string, string>;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A component started by this process: `exit` is set once it has exited. */
export interface RunningComponent {
  spec: ComponentSpec;
  pid: number;
  exit: ExitInfo | undefined;
  exited: Promise<ExitInfo>;
}

// setpriv's parent-death signal kills the component if the process that started it dies
// without running any handler (SIGKILL, OOM): no control plane outlives its test run.
const SETPRIV = '/usr/bin/setpriv';

export interface StartOptions {
  /** Kill the component when the starting process dies (Linux with setpriv only). */
  dieWithParent: boolean;
}

export function startComponent(spec: ComponentSpec, opts: StartOptions): RunningComponent {
  const fd = openSync(spec.logFile, 'a');
  writeSync(
    fd,
    `==== ${new Date().toISOString()} starting ${spec.name}: ${spec.command} ${spec.args.join(' ')}\n`,
  );
  const usePdeathsig = opts.dieWithParent && process.platform === 'linux' && existsSync(SETPRIV);
  const [command, args] = usePdeathsig
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', spec.command, ...spec.args]]
    : [spec.command, spec.args];
  let child;
  try {
    child = spawn(command, args, {
      detached: true, // own process group, so stop() reaches its children too
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
    });
  } finally {
    closeSync(fd);
  }
  const running: RunningComponent = {
    spec,
    pid: child.pid ?? -1,
    exit: undefined,
    exited: new Promise<ExitInfo>((resolve) => {
      child.once('error', (error) => {
        running.exit ??= { code: null, signal: null, error };
        resolve(running.exit);
      });
      child.once('exit', (code, signal) => {
        running.exit ??= { code, signal };
        resolve(running.exit);
      });
    }),
  };
  // A component started from a Jest worker must not keep that worker alive.
  child.unref();
  return running;
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error) return `failed to start: ${exit.error.message}`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

/** Last lines of a log file, for error messages. */
export function tailFile(file: string, lines = 30): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch (err) {
    return `(could not read ${file}: ${(err as Error).message})`;
  }
}

/** True while pid is a live (not zombie) process whose command line names `command`. */
export function isAlive(pid: number, command?: string): boolean {
  if (pid <= 0) return false;
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The state follows the parenthesised command name, which may itself hold spaces.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
      // Guards against a reused pid: never signal a process that is not ours.
      if (command !== undefined) {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (!cmdline.includes(command)) return false;
      }
      return true;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops a component's process group: SIGTERM, then SIGKILL after `graceMs`. Works on
 * components started by another process too (it polls, it does not wait on the child).
 */
export async function stopPid(pid: number, command: string, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid, command)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid, command)) return;
    await sleep(50);
  }
  signalGroup(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline) {
    if (!isAlive(pid, command)) return;
    await sleep(50);
  }
  throw new Error(`process ${pid} (${command}) did not exit after SIGKILL`);
}

/** For process 'exit' handlers, which cannot wait: kill the group at once. */
export function killNow(pid: number, command: string): void {
  if (isAlive(pid, command)) signalGroup(pid, 'SIGKILL');
}
