// The operator's API client edges: the client-side rate limit, 429 Retry-After, and the
// managedFields move that lets applies remove what a create set.
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../../../src/operator/desired-state/index.js';
import {
  createFieldsMovedToApply,
  RequestRateLimit,
  throttledFor,
} from '../../../src/operator/kube.js';

describe('RequestRateLimit', () => {
  // Fake timers and clock: the pacing is checked in virtual time, so a loaded machine
  // cannot make the test flaky.
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('lets a burst through at once, then paces requests at qps', async () => {
    const limit = new RequestRateLimit(100, 3, () => Date.now());
    const done: number[] = [];
    for (let i = 0; i < 5; i += 1) void limit.take().then(() => done.push(i));
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0, 1, 2]);
    // At 100 per second the next token is 10 ms away, and the one after 10 ms more.
    await jest.advanceTimersByTimeAsync(9);
    expect(done).toEqual([0, 1, 2]);
    await jest.advanceTimersByTimeAsync(1);
    expect(done).toEqual([0, 1, 2, 3]);
    await jest.advanceTimersByTimeAsync(10);
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });

  test('qps 0 is no limit', async () => {
    const limit = new RequestRateLimit(0, 1, () => Date.now());
    let done = 0;
    for (let i = 0; i < 100; i += 1) void limit.take().then(() => (done += 1));
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toBe(100);
  });
});

describe('throttledFor', () => {
  test('a 429 waits its Retry-After (capped at 30 s), 1 s without one; other errors none', () => {
    expect(throttledFor({ code: 429, headers: { 'retry-after': '2' } })).toBe(2000);
    expect(throttledFor({ code: 429, headers: { 'retry-after': '3600' } })).toBe(30_000);
    expect(throttledFor({ code: 429, headers: {} })).toBe(1000);
    expect(throttledFor({ code: 409, headers: { 'retry-after': '2' } })).toBeUndefined();
  });
});

describe('createFieldsMovedToApply', () => {
  const entry = (operation: string, fieldsV1: object, manager = FIELD_MANAGER) => ({
    manager,
    operation,
    apiVersion: 'v1',
    fieldsType: 'FieldsV1',
    fieldsV1,
  });
  test("merges the create's Update entry into the operator's Apply entry, others kept", () => {
    const obj: KubernetesObject = {
      metadata: {
        managedFields: [
          entry('Update', {
            'f:data': { 'f:a': {}, 'f:old': {} },
            'f:metadata': { 'f:labels': {} },
          }),
          entry('Update', { 'f:data': { 'f:x': {} } }, 'kubectl-edit'),
          entry('Apply', { 'f:data': { 'f:a': {}, 'f:b': {} } }),
        ],
      },
    };
    expect(createFieldsMovedToApply(obj)).toEqual([
      entry('Update', { 'f:data': { 'f:x': {} } }, 'kubectl-edit'),
      entry('Apply', {
        'f:data': { 'f:a': {}, 'f:b': {}, 'f:old': {} },
        'f:metadata': { 'f:labels': {} },
      }),
    ]);
  });
  test('nothing to move once the fields are the Apply entry’s', () => {
    const obj: KubernetesObject = {
      metadata: { managedFields: [entry('Apply', { 'f:data': {} })] },
    };
    expect(createFieldsMovedToApply(obj)).toBeUndefined();
  });
});
