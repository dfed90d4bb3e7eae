// `figway dev --migrate`: the autopilot walks the demo to 100% on the gateway's own
// counters, printing every step with its verdict and counts; with --new-error-ratio 0.2
// it rolls back. The gateway's weight gauge follows the effective weight.
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, httpGet, startFigway, type RunningProcess } from '../../tools/processes.js';

const work = mkdtempSync(join(tmpdir(), 'figway-dev-migrate-'));
const procs: RunningProcess[] = [];

afterAll(async () => {
  for (const p of procs) await p.stop();
  rmSync(work, { recursive: true, force: true });
});

function dev(name: string, extra: string[]): RunningProcess {
  const proc = startFigway(
    name,
    [
      'dev',
      '--migrate',
      '--port=0',
      '--admin-port=0',
      '--monolith-port=0',
      '--service-port=0',
      ...extra,
    ],
    join(work, `${name}.log`),
  );
  procs.push(proc);
  return proc;
}

async function finished(proc: RunningProcess, timeoutMs: number): Promise<string> {
  return eventually(
    `${proc.name} to finish its migration`,
    () => {
      if (proc.exitInfo()) throw new Error(`${proc.name} exited:\n${proc.log()}`);
      const log = proc.log();
      return Promise.resolve(/autopilot: finished: /.test(log) ? log : undefined);
    },
    timeoutMs,
    500,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n--- log ---\n${proc.log()}`);
  });
}

async function servedWeight(log: string): Promise<string | undefined> {
  const admin = /admin\s+(http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(log)?.[1];
  const { body } = await httpGet(`${admin ?? ''}/metrics`);
  return /^figway_gateway_route_new_service_weight\{route="orders-api"\} (\S+)$/m.exec(body)?.[1];
}

describe('figway dev --migrate', () => {
  test('a healthy demo walks 10 → 25 → 50 → 100%, each step with its verdict and counts', async () => {
    const proc = dev('healthy', []);
    const log = await finished(proc, 90_000);
    const autopilot = log.split('\n').filter((l) => l.startsWith('autopilot: '));
    expect(autopilot).toEqual([
      expect.stringMatching(/^autopilot: orders-api steps 10% → 25% → 50% → 100%, 10s each/),
      'autopilot: step 1/4 (10%): 0% → 10%: the observation source sees the route',
      expect.stringMatching(
        /^autopilot: step 2\/4 \(25%\): 10% → 25%: pass: new-service 5xx 0% \(0\/\d+\), monolith 0% \(0\/\d+\): within 5% at 95% confidence$/,
      ),
      expect.stringMatching(/^autopilot: step 3\/4 \(50%\): 25% → 50%: pass: /),
      expect.stringMatching(/^autopilot: promoted from 50% to 100%: pass: /),
      'autopilot: finished: Promoted at 100%. Ctrl-C stops.',
    ]);
    expect(await servedWeight(log)).toBe('100');
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
  }, 120_000);

  test('--new-error-ratio 0.2: the first judged step rolls back to 0%', async () => {
    const proc = dev('failing', ['--new-error-ratio=0.2']);
    const log = await finished(proc, 60_000);
    expect(log).toMatch(
      /autopilot: rolled back from step 1\/4 \(10%\) to 0%: fail: new-service 5xx (19|20|21)(\.\d)?% \(\d+\/\d+\), monolith 0% \(0\/\d+\): worse than the monolith by more than 5% at 95% confidence/,
    );
    expect(log).toContain('autopilot: finished: RolledBack at 0%.');
    expect(await servedWeight(log)).toBe('0');
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
  }, 90_000);

  test('--new-error-ratio out of range is refused, naming the flag', async () => {
    const proc = startFigway('bad-flag', ['dev', '--new-error-ratio=2'], join(work, 'bad.log'));
    procs.push(proc);
    expect(await proc.exited).toEqual({ code: 2, signal: null });
    expect(proc.log()).toContain('--new-error-ratio must be a number from 0 to 1, got "2"');
  }, 30_000);
});
