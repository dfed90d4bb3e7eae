import { describe, expect, test } from '@jest/globals';
import { TerminalError, WorkQueue, type Outcome } from '../../../src/operator/queue.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

/** A processor whose calls stay open until the test releases them. */
function gate() {
  const calls: { key: string; release: (error?: Error) => void }[] = [];
  const processor = (key: string) =>
    new Promise<undefined>((resolve, reject) => {
      calls.push({
        key,
        release: (error) => {
          if (error) reject(error);
          else resolve(undefined);
        },
      });
    });
  return { calls, processor };
}

describe('WorkQueue', () => {
  test('a key added many times while waiting runs once', async () => {
    const seen: string[] = [];
    const queue = new WorkQueue({ concurrency: 1 });
    for (let i = 0; i < 5; i++) queue.add('a');
    queue.add('b');
    expect(queue.depth).toBe(2);
    queue.start(async (key) => {
      await tick();
      seen.push(key);
      return undefined;
    });
    await queue.drain();
    expect(seen).toEqual(['a', 'b']);
  });

  test('a key is never processed twice at once; added while running, it runs again after', async () => {
    const { calls, processor } = gate();
    const queue = new WorkQueue({ concurrency: 4 });
    queue.start(processor);
    queue.add('a');
    await until('first run', () => calls.length === 1);
    queue.add('a');
    queue.add('a');
    await tick(20);
    expect(calls).toHaveLength(1);
    calls[0]?.release();
    await until('second run', () => calls.length === 2);
    calls[1]?.release();
    await queue.drain();
    await tick(20);
    expect(calls.map((c) => c.key)).toEqual(['a', 'a']);
  });

  test('runs up to `concurrency` different keys in parallel', async () => {
    const { calls, processor } = gate();
    const queue = new WorkQueue({ concurrency: 2 });
    queue.start(processor);
    for (const key of ['a', 'b', 'c', 'd']) queue.add(key);
    await until('two running', () => calls.length === 2);
    await tick(20);
    expect(calls).toHaveLength(2);
    expect(queue.active).toBe(2);
    expect(queue.depth).toBe(2);
    calls[0]?.release();
    await until('third starts', () => calls.length === 3);
    for (const c of calls.slice(1)) c.release();
    await until('fourth starts', () => calls.length === 4);
    calls[3]?.release();
    await queue.drain();
  });

  test('failures are retried with growing jittered delays, then the count resets on success', async () => {
    const outcomes: [Outcome, number | undefined][] = [];
    let attempts = 0;
    const queue = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 10,
      maxDelayMs: 1000,
      random: () => 0,
      hooks: { done: (_key, outcome, _err, retry) => outcomes.push([outcome, retry]) },
    });
    queue.start(async () => {
      await tick();
      attempts += 1;
      if (attempts <= 3) throw new Error('apply failed');
      return undefined;
    });
    queue.add('a');
    await until('success', () => outcomes.some(([o]) => o === 'success'));
    expect(outcomes).toEqual([
      ['error', 5],
      ['error', 10],
      ['error', 20],
      ['success', undefined],
    ]);
    // The next failure starts from the base delay again.
    attempts = 0;
    queue.add('a');
    await until('a new failure', () => outcomes.length === 5);
    expect(outcomes[4]).toEqual(['error', 5]);
    await queue.shutdown();
  });

  test('a terminal error is never retried', async () => {
    const outcomes: Outcome[] = [];
    let calls = 0;
    const queue = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 1,
      hooks: { done: (_k, outcome) => outcomes.push(outcome) },
    });
    queue.start(async () => {
      await tick();
      calls += 1;
      throw new TerminalError('spec.routes[0].match.path.value: invalid regular expression');
    });
    queue.add('a');
    await until('done', () => outcomes.length === 1);
    await tick(50);
    expect(calls).toBe(1);
    expect(outcomes).toEqual(['terminal']);
  });

  test('new events cancel a scheduled retry and run the key now', async () => {
    let calls = 0;
    const queue = new WorkQueue({ concurrency: 1, baseDelayMs: 60_000, random: () => 0 });
    queue.start(async () => {
      await tick();
      calls += 1;
      if (calls === 1) throw new Error('transient');
      return undefined;
    });
    queue.add('a');
    await until('first failure', () => calls === 1);
    await tick(5);
    queue.add('a');
    await until('immediate rerun', () => calls === 2);
    await queue.shutdown();
  });

  test('pause stops handing out keys at once; running keys finish; start resumes', async () => {
    const { calls, processor } = gate();
    const queue = new WorkQueue({ concurrency: 1 });
    queue.start(processor);
    queue.add('a');
    queue.add('b');
    await until('a runs', () => calls.length === 1);
    queue.pause();
    calls[0]?.release();
    await queue.drain();
    await tick(20);
    expect(calls).toHaveLength(1);
    expect(queue.depth).toBe(1);
    queue.start(processor);
    await until('b runs', () => calls.length === 2);
    calls[1]?.release();
    await queue.drain();
  });

  test('shutdown waits for in-flight work and ignores later adds', async () => {
    const { calls, processor } = gate();
    const queue = new WorkQueue({ concurrency: 2 });
    queue.start(processor);
    queue.add('a');
    await until('a runs', () => calls.length === 1);
    let finished = false;
    const stopping = queue.shutdown().then(() => (finished = true));
    queue.add('b');
    await tick(20);
    expect(finished).toBe(false);
    calls[0]?.release();
    await stopping;
    expect(finished).toBe(true);
    expect(calls).toHaveLength(1);
  });

  test('reports depth and queue latency', async () => {
    let now = 1000;
    const depths: number[] = [];
    const latencies: number[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      now: () => now,
      hooks: { depth: (d) => depths.push(d), latency: (s) => latencies.push(s) },
    });
    queue.add('a');
    queue.add('b');
    now += 2500;
    queue.start(() => Promise.resolve(undefined));
    await queue.drain();
    await until('both done', () => latencies.length === 2);
    expect(depths).toEqual([1, 2, 1, 0]);
    expect(latencies).toEqual([2.5, 2.5]);
  });

  test('a throwing hook does not wedge the queue', async () => {
    const seen: string[] = [];
    const queue = new WorkQueue({
      concurrency: 1,
      hooks: {
        done: () => {
          throw new Error('metrics broke');
        },
      },
    });
    queue.start(async (key) => {
      await tick();
      seen.push(key);
      return undefined;
    });
    queue.add('a');
    queue.add('b');
    await until('both ran', () => seen.length === 2);
  });

  test('rejects a concurrency below 1', () => {
    expect(() => new WorkQueue({ concurrency: 0 })).toThrow(
      'queue concurrency must be a whole number >= 1, got 0',
    );
  });
});
