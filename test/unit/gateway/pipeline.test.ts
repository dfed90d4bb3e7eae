import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import {
  compilePipeline,
  runDoneStages,
  runRequestStages,
  type Answer,
  type Outcome,
  type RequestStep,
  type Stage,
  type StageContext,
} from '../../../src/gateway/pipeline.js';
import type { ProxyPlan } from '../../../src/gateway/plan.js';
import type { RuntimeBackend } from '../../../src/gateway/runtime.js';

const ctx = (): StageContext => ({
  plan: {} as ProxyPlan,
  req: {} as IncomingMessage,
  upstreamHeaders: {},
  backend: {} as RuntimeBackend,
});

const tag = (name: string, seen: string[]): Stage => ({
  name,
  onRequest(c) {
    seen.push(name);
    c.upstreamHeaders[`x-${name}`] = '1';
    return undefined;
  },
});

const deny: Answer = { status: 401, reason: 'unauthorised', message: 'no token' };

function run(stages: (Stage | undefined)[], c = ctx()): Promise<RequestStep> {
  return new Promise((resolve) => {
    runRequestStages(compilePipeline(stages), c, resolve);
  });
}

describe('the request pipeline', () => {
  it('keeps only the stages a route enables, split by hook', () => {
    const seen: string[] = [];
    const p = compilePipeline([
      tag('a', seen),
      undefined,
      { name: 'log', onDone: () => undefined },
      { name: 'headers', onResponseHead: () => undefined },
    ]);
    expect(p.names).toEqual(['a', 'log', 'headers']);
    expect(p.request.map((s) => s.name)).toEqual(['a']);
    expect(p.done.map((s) => s.name)).toEqual(['log']);
    expect(p.responseHead.map((s) => s.name)).toEqual(['headers']);
  });

  it('runs request stages in order and lets the request through when none answers', async () => {
    const seen: string[] = [];
    const c = ctx();
    await expect(run([tag('a', seen), tag('b', seen)], c)).resolves.toBeUndefined();
    expect(seen).toEqual(['a', 'b']);
    expect(c.upstreamHeaders).toEqual({ 'x-a': '1', 'x-b': '1' });
  });

  it('stops at the first answer: later stages never run', async () => {
    const seen: string[] = [];
    await expect(
      run([tag('a', seen), { name: 'auth', onRequest: () => deny }, tag('b', seen)]),
    ).resolves.toBe(deny);
    expect(seen).toEqual(['a']);
  });

  it('waits for an asynchronous stage, then runs the rest', async () => {
    const seen: string[] = [];
    const slow: Stage = {
      name: 'slow',
      onRequest: () =>
        new Promise<RequestStep>((resolve) =>
          setTimeout(() => {
            seen.push('slow');
            resolve(undefined);
          }, 5),
        ),
    };
    await expect(run([tag('a', seen), slow, tag('b', seen)])).resolves.toBeUndefined();
    expect(seen).toEqual(['a', 'slow', 'b']);
  });

  it('turns a stage that throws or rejects into a 500 answer naming the stage', async () => {
    const throwing: Stage = {
      name: 'broken',
      onRequest: () => {
        throw new Error('boom');
      },
    };
    const rejecting: Stage = { name: 'flaky', onRequest: () => Promise.reject(new Error('down')) };
    await expect(run([throwing])).resolves.toMatchObject({
      status: 500,
      message: expect.stringContaining('broken') as unknown,
    });
    await expect(run([rejecting])).resolves.toMatchObject({
      status: 500,
      message: expect.stringContaining('flaky failed: down') as unknown,
    });
  });

  it('runs every done stage even when one throws', () => {
    const seen: string[] = [];
    const p = compilePipeline([
      {
        name: 'bad',
        onDone: () => {
          throw new Error('x');
        },
      },
      { name: 'good', onDone: () => seen.push('good') },
    ]);
    runDoneStages(p, ctx(), { status: 200 } as Outcome);
    expect(seen).toEqual(['good']);
  });
});
