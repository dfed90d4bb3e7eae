// The operator's API client edges: the client-side rate limit, 429 Retry-After, and the
// managedFields move that lets applies remove what a create set.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../../../src/operator/desired-state/index.js';
import {
  createFieldsMovedToApply,
  RequestRateLimit,
  throttledFor,
} from '../../../src/operator/kube.js';

describe('RequestRateLimit', () => {
  test('lets a burst through at once, then paces requests at qps', async () => {
    const limit = new RequestRateLimit(100, 3);
    const start = performance.now();
    await Promise.all([limit.take(), limit.take(), limit.take()]);
    const burst = performance.now() - start;
    await Promise.all([limit.take(), limit.take()]);
    const paced = performance.now() - start;
    expect(burst).toBeLessThan(8);
    // Two more tokens at 100 per second: about 20 ms.
    expect(paced).toBeGreaterThanOrEqual(18);
  });

  test('qps 0 is no limit', async () => {
    const limit = new RequestRateLimit(0, 1);
    const start = performance.now();
    await Promise.all(Array.from({ length: 100 }, () => limit.take()));
    expect(performance.now() - start).toBeLessThan(20);
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
