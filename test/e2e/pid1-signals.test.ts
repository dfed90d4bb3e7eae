// The image runs `node /app/dist/cli.js` as PID 1 with no init (see the Dockerfile). The
// kernel delivers no signal to PID 1 that it has no handler for, so a container's SIGTERM
// stops figway only if figway handles it itself. This test runs `figway gateway` and
// `figway operator` as PID 1 of a new PID namespace (unshare, as root) and sends SIGTERM
// from outside, as the container runtime does; a control process without a handler shows
// that the PID 1 rule is really in force.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../tools/chart.js';
import { eventually, freePort, httpGet } from '../tools/processes.js';
import { IN_CI } from '../tools/require-tool.js';

const work = mkdtempSync(join(tmpdir(), 'figway-pid1-'));
const started: ChildProcess[] = [];

/** unshare needs CAP_SYS_ADMIN; CI and the developer machines run as root. */
const canUnshare = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;
if (!canUnshare && IN_CI) throw new Error('unshare --pid must work in CI (run as root)');
if (!canUnshare)
  process.stderr.write(
    `\n${'!'.repeat(78)}\n!!! SKIPPING PID 1 signal tests: \`unshare --pid\` is not permitted here (needs root).\n${'!'.repeat(78)}\n\n`,
  );
const describePid1 = canUnshare ? describe : describe.skip;

afterAll(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

interface Pid1 {
  unshare: ChildProcess;
  /** The host pid of the process that is PID 1 inside the namespace. */
  hostPid: number;
  exited: Promise<number | null>;
  output: () => string;
}

/** Runs `command` as PID 1 of a new PID namespace. */
async function asPid1(command: string[]): Promise<Pid1> {
  let output = '';
  const unshare = spawn('unshare', ['--pid', '--fork', '--kill-child=SIGKILL', ...command], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(unshare);
  unshare.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  unshare.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    unshare.on('exit', (code) => {
      resolve(code);
    });
  });
  const parent = unshare.pid as number;
  const hostPid = await eventually(`the child of unshare ${parent}`, () => {
    const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
    return Promise.resolve(children === '' ? undefined : Number(children.split(' ')[0]));
  });
  // NSpid lists the pid in each namespace, outermost first: the last one must be 1.
  const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
  expect(status).toMatch(/^NSpid:\s+\d+\s+1$/m);
  return { unshare, hostPid, exited, output: () => output };
}

/** Node with tsx's loader in the same process (the tsx CLI would add a parent process). */
const figway = (...args: string[]) => [
  process.execPath,
  '--import',
  'tsx',
  join(REPO_ROOT, 'src', 'cli.ts'),
  ...args,
];

async function exitWithin(pid1: Pid1, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([pid1.exited, sleep(ms).then(() => 'still running' as const)]);
}

describePid1('figway as PID 1', () => {
  test('control: a node PID 1 without a SIGTERM handler ignores SIGTERM', async () => {
    const pid1 = await asPid1([process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    process.kill(pid1.hostPid, 'SIGTERM');
    expect(await exitWithin(pid1, 2_000)).toBe('still running');
    process.kill(pid1.hostPid, 'SIGKILL');
    await pid1.exited;
  }, 30_000);

  test('figway gateway drains and exits 0 on SIGTERM', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = join(REPO_ROOT, 'examples', 'external-monolith.yaml');
    const pid1 = await asPid1(
      figway(
        'gateway',
        '--config',
        config,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--admin-port',
        String(adminPort),
        '--drain-seconds',
        '1',
      ),
    );
    await eventually(
      'the gateway admin port',
      async () =>
        (await httpGet(`http://127.0.0.1:${adminPort}/healthz`)).status === 200 ? true : undefined,
      60_000,
    );
    process.kill(pid1.hostPid, 'SIGTERM');
    const code = await exitWithin(pid1, 15_000);
    expect({ code, output: code === 0 ? '' : pid1.output() }).toEqual({ code: 0, output: '' });
  }, 90_000);

  test('figway operator stops and exits 0 on SIGTERM', async () => {
    const adminPort = await freePort();
    // An API server that is not there: the operator keeps retrying its informers, which is
    // exactly when a SIGTERM must still stop it.
    const kubeconfig = join(work, 'nowhere.kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: nowhere, cluster: { server: "https://127.0.0.1:9" } }]',
        'users: [{ name: nobody, user: { token: none } }]',
        'contexts: [{ name: nowhere, context: { cluster: nowhere, user: nobody } }]',
        'current-context: nowhere',
        '',
      ].join('\n'),
    );
    const pid1 = await asPid1(
      figway(
        'operator',
        `--kubeconfig=${kubeconfig}`,
        '--leader-elect=false',
        `--admin-port=${adminPort}`,
        '--admin-address=127.0.0.1',
      ),
    );
    await eventually(
      'the operator admin port',
      async () =>
        (await httpGet(`http://127.0.0.1:${adminPort}/healthz`)).status === 200 ? true : undefined,
      60_000,
    );
    process.kill(pid1.hostPid, 'SIGTERM');
    const code = await exitWithin(pid1, 15_000);
    expect({ code, output: code === 0 ? '' : pid1.output() }).toEqual({ code: 0, output: '' });
  }, 90_000);
});
