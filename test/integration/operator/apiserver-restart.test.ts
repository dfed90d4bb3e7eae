// The watch is unreliable: kill kube-apiserver under a running operator and prove that
// its informers come back and it converges on changes made after the restart. This file
// starts its own control plane, because restarting the shared one would break every test
// file running beside it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { ROUTE_TABLE_KEY, parseRouteTable } from '../../../src/api/index.js';
import { testClusterEnv } from '../../cluster/env.js';
import { startCluster, type Cluster } from '../../cluster/harness.js';
import {
  apiRouteManifest,
  clients,
  createApiRoute,
  createNamespace,
  eventually,
  installCrd,
  kubeConfig,
  setWeight,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

// The shared cluster's presence tells whether binaries exist here; this test builds its own.
const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

describeCluster('operator across a kube-apiserver restart', () => {
  let cluster: Cluster | undefined;
  let kc: KubeConfig;
  let op: RunningOperator | undefined;
  let ns: string;

  beforeAll(async () => {
    cluster = await startCluster({ handleSignals: false, log: () => undefined });
    kc = kubeConfig(cluster.kubeconfigPath);
    await installCrd(kc, cluster.stateFile);
    ns = await createNamespace(kc, 'restart');
    op = await startOperator(kc, { namespaces: [ns] });
  }, 180_000);

  afterAll(async () => {
    await op?.stop();
    await cluster?.stop();
  }, 60_000);

  test('informers restart, and an edit and a deletion after the restart are reconciled', async () => {
    if (!cluster || !op) throw new Error('setup failed');
    const c = clients(kc);
    await createApiRoute(kc, apiRouteManifest(ns, 'orders', { replicas: 1, weight: 10 }));
    await waitForCondition(kc, ns, 'orders', 'Ready', 'True', 90_000);

    await cluster.restartApiServer();
    // Every watch broke; the informers must have noticed and be restarting or restarted.
    await eventually(
      'informer restarts to be counted',
      async () => {
        const restarts =
          (await op?.metrics.informerRestarts.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
        return restarts > 0 ? restarts : undefined;
      },
      60_000,
    );

    await eventually(
      'the API server to answer',
      async () => {
        await c.core.readNamespace({ name: ns });
        return true;
      },
      60_000,
    );
    await setWeight(kc, ns, 'orders', 80);
    await eventually(
      'the ConfigMap to carry the edit made after the restart',
      async () => {
        const cm = await c.core.readNamespacedConfigMap({ name: 'orders-gateway', namespace: ns });
        return parseRouteTable(cm.data?.[ROUTE_TABLE_KEY] ?? '').routes[0]?.newServicePercent === 80
          ? true
          : undefined;
      },
      60_000,
    );
    // The owned-object informers are back too: drift is repaired.
    const old = await c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns });
    await c.core.deleteNamespacedService({ name: 'orders-gateway', namespace: ns });
    await eventually(
      'the Service to be recreated',
      async () => {
        const svc = await c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns });
        return svc.metadata?.uid !== old.metadata?.uid ? true : undefined;
      },
      60_000,
    );
    const route = await waitForCondition(kc, ns, 'orders', 'Ready', 'True', 60_000);
    expect(route.status?.routes).toEqual([{ name: 'api', newServicePercent: 80 }]);
  }, 300_000);
});
