// Which watch events reconcile an ApiRoute: the operator's own status writes and
// Deployment status changes that status does not report are dropped.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { apiRouteChanged, ownedChanged } from '../../../src/operator/controller.js';
import type { RawApiRoute } from '../../../src/operator/reconciler.js';

const route = (over: Partial<RawApiRoute['metadata']> = {}, status?: object): RawApiRoute => ({
  metadata: { name: 'orders', namespace: 'shop', generation: 1, ...over },
  ...(status && { status }),
});

describe('apiRouteChanged', () => {
  test('a status write (same generation) is not a change; spec, labels and deletion are', () => {
    expect(apiRouteChanged(route(), route({ resourceVersion: '9' }, { routeCount: 1 }))).toBe(
      false,
    );
    expect(apiRouteChanged(route(), route({ generation: 2 }))).toBe(true);
    expect(apiRouteChanged(route(), route({ labels: { touched: 'yes' } }))).toBe(true);
    expect(apiRouteChanged(route(), route({ deletionTimestamp: new Date(0) }))).toBe(true);
  });
});

describe('ownedChanged', () => {
  const deployment = (generation: number, status: object, labels = {}): KubernetesObject =>
    ({
      metadata: { name: 'g', namespace: 'shop', generation, labels },
      spec: { replicas: 2 },
      status,
    }) as KubernetesObject;
  test('a Deployment status change counts only when the rollout moved', () => {
    const a = deployment(1, { observedGeneration: 1, replicas: 2, readyReplicas: 1 });
    const sameRollout = deployment(1, {
      observedGeneration: 1,
      replicas: 2,
      readyReplicas: 1,
      conditions: [{ type: 'Available', status: 'False', lastUpdateTime: 'later' }],
    });
    const moved = deployment(1, { observedGeneration: 1, replicas: 2, readyReplicas: 2 });
    expect(ownedChanged('Deployment', a, sameRollout)).toBe(false);
    expect(ownedChanged('Deployment', a, moved)).toBe(true);
    // A spec edit (kubectl scale) and a label edit are drift.
    expect(ownedChanged('Deployment', a, deployment(2, {}))).toBe(true);
    expect(ownedChanged('Deployment', a, deployment(1, {}, { x: 'y' }))).toBe(true);
  });
  test('a PodDisruptionBudget status change is not; any change of a kind without generation is', () => {
    const pdb = (status: object) =>
      ({ metadata: { name: 'g', generation: 1 }, status }) as KubernetesObject;
    expect(
      ownedChanged('PodDisruptionBudget', pdb({ currentHealthy: 1 }), pdb({ currentHealthy: 2 })),
    ).toBe(false);
    const cm = (data: object) => ({ metadata: { name: 'g' }, data }) as KubernetesObject;
    expect(ownedChanged('ConfigMap', cm({ a: '1' }), cm({ a: '2' }))).toBe(true);
  });
});
