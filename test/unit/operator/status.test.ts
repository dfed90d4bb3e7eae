import { describe, expect, test } from '@jest/globals';
import type { V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { compileRouteTable, type ApiRouteStatus } from '../../../src/api/index.js';
import {
  ConditionTracker,
  computeStatus,
  rollout,
  statusChanged,
  type Observation,
} from '../../../src/operator/status.js';
import { validApiRoute } from '../../tools/api-route.js';

const T0 = new Date('2026-01-01T10:00:00.123Z');
const T1 = new Date('2026-01-01T10:05:00.000Z');

const route = validApiRoute(
  parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop, generation: 4 }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: a
      match: { path: { value: /a } }
      backends: [{ service: orders, port: 80, weight: 25 }, { monolith: true, weight: 75 }]
    - name: b
      match: { path: { value: /b } }
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
`),
);
const table = compileRouteTable(route);

function deployment(
  over: { generation?: number; observed?: number; replicas?: number; status?: object } = {},
): V1Deployment {
  const replicas = over.replicas ?? 2;
  return {
    metadata: { generation: over.generation ?? 3 },
    spec: { replicas, selector: {}, template: {} },
    status: {
      observedGeneration: over.observed ?? over.generation ?? 3,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      ...over.status,
    },
  };
}

const applied = (d: V1Deployment = deployment()): Observation => ({
  kind: 'applied',
  gatewayService: 'orders-gateway',
  configHash: 'abc123',
  table,
  deployment: d,
  monolith: 'legacy:8080',
});

function condition(status: ApiRouteStatus, type: string) {
  const found = status.conditions?.find((c) => c.type === type);
  if (!found) throw new Error(`no ${type} condition`);
  return found;
}

describe('computeStatus', () => {
  test('an applied, available gateway is Accepted and Ready, with gateway and route progress', () => {
    const status = computeStatus({ metadata: { generation: 4 } }, applied(), T0);
    expect(status.observedGeneration).toBe(4);
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['Ready', 'True', 'Available'],
      ['Progressing', 'False', 'Complete'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
    for (const c of status.conditions ?? []) {
      expect(c.observedGeneration).toBe(4);
      expect(c.lastTransitionTime).toBe('2026-01-01T10:00:00Z');
      expect(c.message).not.toBe('');
    }
    expect(condition(status, 'Ready').message).toContain('config hash abc123');
    expect(status.gateway).toEqual({
      service: 'orders-gateway',
      readyReplicas: 2,
      configHash: 'abc123',
    });
    expect(status.routes).toEqual([
      { name: 'a', newServicePercent: 25 },
      { name: 'b', newServicePercent: 50 },
    ]);
    expect(status.newServicePercent).toBe(38);
    expect(status.routeCount).toBe(2);
    expect(status.monolith).toBe('legacy:8080');
  });

  test('a rollout in progress is Progressing and not Ready', () => {
    const d = deployment({ status: { updatedReplicas: 1, availableReplicas: 1, replicas: 3 } });
    const status = computeStatus({ metadata: { generation: 4 } }, applied(d), T0);
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'RollingOut' });
    expect(condition(status, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'RollingOut',
    });
  });

  test('a Deployment whose controller has not seen the latest spec is not Ready yet', () => {
    const d = deployment({ generation: 5, observed: 4 });
    expect(rollout(d).complete).toBe(false);
    const status = computeStatus({ metadata: { generation: 4 } }, applied(d), T0);
    expect(condition(status, 'Ready').status).toBe('False');
  });

  test('a stuck rollout is Degraded', () => {
    const d = deployment({
      status: {
        availableReplicas: 0,
        updatedReplicas: 0,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'timed out',
          },
        ],
      },
    });
    const status = computeStatus({ metadata: { generation: 4 } }, applied(d), T0);
    expect(condition(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'RolloutStuck' });
  });

  test('zero replicas is never Ready', () => {
    const status = computeStatus(
      { metadata: { generation: 4 } },
      applied(deployment({ replicas: 0 })),
      T0,
    );
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ScaledToZero' });
  });

  test('invalid input: Accepted=False names the field; what the gateway serves is kept', () => {
    const previous = computeStatus({ metadata: { generation: 4 } }, applied(), T0);
    const status = computeStatus(
      { metadata: { generation: 5 }, status: previous },
      {
        kind: 'invalid',
        errors: [
          { path: 'spec.routes[0].match.path.value', message: 'is not a valid regular expression' },
        ],
      },
      T1,
    );
    expect(status.observedGeneration).toBe(5);
    expect(condition(status, 'Accepted')).toMatchObject({
      status: 'False',
      reason: 'Invalid',
      message: 'spec.routes[0].match.path.value: is not a valid regular expression',
      observedGeneration: 5,
      lastTransitionTime: '2026-01-01T10:05:00Z',
    });
    expect(condition(status, 'Ready').message).toContain(
      'last good route table (config hash abc123)',
    );
    expect(status.gateway).toEqual(previous.gateway);
    expect(status.routes).toEqual(previous.routes);
    expect(status.newServicePercent).toBe(previous.newServicePercent);
    expect(status.routeCount).toBe(2);
    expect(status.monolith).toBe('legacy:8080');
  });

  test('a conflict is Degraded with the message naming the object', () => {
    const status = computeStatus(
      { metadata: { generation: 1 } },
      {
        kind: 'conflict',
        message: 'Service shop/orders-gateway already exists and is not controlled by any object',
      },
      T0,
    );
    expect(condition(status, 'Accepted').status).toBe('True');
    expect(condition(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'Conflict' });
    expect(condition(status, 'Degraded').message).toContain('Service shop/orders-gateway');
  });

  test('lastTransitionTime moves only when a condition changes status', () => {
    const first = computeStatus({ metadata: { generation: 4 } }, applied(), T0);
    const rolling = deployment({
      status: { updatedReplicas: 1, availableReplicas: 1, replicas: 3 },
    });
    const second = computeStatus(
      { metadata: { generation: 5 }, status: first },
      applied(rolling),
      T1,
    );
    expect(condition(second, 'Accepted').lastTransitionTime).toBe('2026-01-01T10:00:00Z');
    expect(condition(second, 'Degraded').lastTransitionTime).toBe('2026-01-01T10:00:00Z');
    expect(condition(second, 'Ready').lastTransitionTime).toBe('2026-01-01T10:05:00Z');
    expect(condition(second, 'Progressing').lastTransitionTime).toBe('2026-01-01T10:05:00Z');
  });

  test('recomputing from the written status changes nothing (no status write on a no-op reconcile)', () => {
    const first = computeStatus({ metadata: { generation: 4 } }, applied(), T0);
    const again = computeStatus(
      { metadata: { generation: 4 }, status: structuredClone(first) },
      applied(),
      T1,
    );
    expect(statusChanged(first, again)).toBe(false);
    expect(
      statusChanged(
        first,
        computeStatus({ metadata: { generation: 5 }, status: first }, applied(), T1),
      ),
    ).toBe(true);
  });

  test('conditions of other types are kept', () => {
    const foreign = {
      type: 'example.com/Audited',
      status: 'True' as const,
      lastTransitionTime: 'x',
      reason: 'Ok',
      message: 'm',
    };
    const status = computeStatus(
      { metadata: { generation: 1 }, status: { conditions: [foreign] } },
      applied(),
      T0,
    );
    expect(status.conditions).toContainEqual(foreign);
    expect(status.conditions).toHaveLength(5);
  });

  test('long messages are truncated', () => {
    const status = computeStatus(
      { metadata: { generation: 1 } },
      { kind: 'failed', message: 'x'.repeat(10_000) },
      T0,
    );
    expect(condition(status, 'Degraded').message.length).toBeLessThanOrEqual(2048);
  });
});

describe('ConditionTracker', () => {
  test('counts ApiRoutes per condition and status, and forgets deleted ones', () => {
    const tracker = new ConditionTracker();
    const ready = computeStatus({ metadata: { generation: 1 } }, applied(), T0);
    const invalid = computeStatus(
      { metadata: { generation: 1 } },
      { kind: 'invalid', errors: [] },
      T0,
    );
    tracker.set('a/x', ready.conditions ?? []);
    tracker.set('a/y', ready.conditions ?? []);
    tracker.set('b/z', invalid.conditions ?? []);
    const count = (condition: string, status: string) =>
      tracker.counts().find((c) => c.condition === condition && c.status === status)?.count;
    expect(count('Ready', 'True')).toBe(2);
    expect(count('Accepted', 'False')).toBe(1);
    expect(count('Degraded', 'Unknown')).toBe(0);
    tracker.delete('a/x');
    expect(count('Ready', 'True')).toBe(1);
  });
});
