// Child processes of a benchmark (operator, gateway): started by us, tracked by pid, and
// stopped by pid on every way out (normal end, exception, SIGINT/SIGTERM, process exit).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once it has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

const children = new Map<number, Child>();
const cleanups: (() => Promise<void>)[] = [];
let handlersInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `command` with its output appended to `logFile`. */
export function startChild(
  name: string,
  command: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv },
): Child {
  installHandlers();
  const fd = openSync(opts.logFile, 'a');
  const proc = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`could not start ${name}: ${command}`);
  const child: Child = {
    name,
    pid: proc.pid,
    process: proc,
    logFile: opts.logFile,
    exited: new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        child.exit = { code, signal };
        children.delete(child.pid);
        resolve({ code, signal });
      });
    }),
  };
  children.set(child.pid, child);
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.exit) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const killed = await Promise.race([
    child.exited.then(() => false),
    sleep(graceMs).then(() => true),
  ]);
  if (killed && alive(child.pid)) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await Promise.race([child.exited, sleep(2_000)]);
  }
}

/** Runs `fn` (e.g. stopping the cluster) on the way out, after the children are stopped. */
export function onCleanup(fn: () => Promise<void>): void {
  installHandlers();
  cleanups.push(fn);
}

/** Stops every child this process started, then runs the cleanups; bounded by 60 s. */
export async function cleanupAll(): Promise<void> {
  const work = (async () => {
    await Promise.allSettled([...children.values()].map((c) => stopChild(c)));
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      if (fn)
        await fn().catch((e: unknown) => process.stderr.write(`[bench] cleanup: ${String(e)}\n`));
    }
  })();
  await Promise.race([work, sleep(60_000)]);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' cannot wait: kill what is left at once, by pid.
  process.on('exit', () => {
    for (const c of children.values()) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping everything this benchmark started\n`);
      void cleanupAll().finally(() => process.exit(code));
    });
  }
}

/** Resources of a process from /proc: peak and current RSS, CPU seconds (user + system). */
export interface ProcSample {
  peakRssBytes: number;
  rssBytes: number;
  cpuSeconds: number;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  // sysconf(_SC_CLK_TCK) is 100 on every Linux that Node supports; getconf says so too.
  clockTicks ??= 100;
  return clockTicks;
}

export function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return {
    peakRssBytes: kb('VmHWM'),
    rssBytes: kb('VmRSS'),
    cpuSeconds: (utime + stime) / ticksPerSecond(),
  };
}

/** Samples a process every `intervalMs`, keeping the highest RSS seen (VmHWM covers it too). */
export class ProcSampler {
  private timer: NodeJS.Timeout | undefined;
  last: ProcSample | undefined;
  constructor(
    readonly pid: number,
    intervalMs = 250,
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), intervalMs);
    this.timer.unref();
  }
  take(): ProcSample | undefined {
    try {
      this.last = sampleProc(this.pid);
    } catch {
      // The process has exited: keep the last sample.
    }
    return this.last;
  }
  stop(): ProcSample | undefined {
    clearInterval(this.timer);
    return this.take();
  }
}
