// Two operators, one Lease, on the real API server: exactly one reconciles; when it stops,
// the other takes over and converges what changed meanwhile.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeLeaseClient, type LeaseClient } from '../../../src/operator/leader-election.js';
import { testClusterEnv } from '../../cluster/env.js';
import {
  apiRouteManifest,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  eventually,
  installCrd,
  kubeConfig,
  setWeight,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

describeCluster('leader election on a real Lease', () => {
  let kc: KubeConfig;
  let ns: string;
  const running: RunningOperator[] = [];

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'le');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    await deleteNamespace(kc, ns);
  });

  test('KubeLeaseClient round-trips a Lease, and a stale resourceVersion is refused', async () => {
    const lease = new KubeLeaseClient(kc, ns, 'roundtrip');
    expect(await lease.get()).toBeUndefined();
    const now = Date.UTC(2026, 0, 1, 0, 0, 0, 123);
    const created = await lease.create({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    });
    expect(created).toMatchObject({ holderIdentity: 'a', renewTime: now, acquireTime: now });
    const raw = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'roundtrip', namespace: ns });
    expect(raw.spec?.holderIdentity).toBe('a');
    const updated = await lease.update({ ...created, holderIdentity: 'b', renewTime: now + 1000 });
    expect(updated.holderIdentity).toBe('b');
    await expect(lease.update({ ...created, holderIdentity: 'c' })).rejects.toThrow();
    await expect(lease.create({ ...created })).rejects.toThrow();
  });

  test('one leader of two; the other takes over when it stops, and converges', async () => {
    const a = await startOperator(kc, {
      namespaces: [ns],
      leaseName: 'figway-operator',
      leaseNamespace: ns,
      identity: 'op-a',
    });
    running.push(a);
    await eventually(
      'op-a to lead',
      () => Promise.resolve(a.operator.isLeader() ? true : undefined),
      15_000,
    );
    const b = await startOperator(kc, {
      namespaces: [ns],
      leaseName: 'figway-operator',
      leaseNamespace: ns,
      identity: 'op-b',
    });
    running.push(b);
    await createApiRoute(kc, apiRouteManifest(ns, 'shared', { replicas: 1, weight: 20 }));
    await waitForCondition(kc, ns, 'shared', 'Ready', 'True', 60_000);
    // Several renew periods: b must never lead while a renews.
    for (let i = 0; i < 10; i++) {
      expect([a.operator.isLeader(), b.operator.isLeader()]).toEqual([true, false]);
      await sleep(300);
    }
    const lease = await new KubeLeaseClient(kc, ns, 'figway-operator').get();
    expect(lease?.holderIdentity).toBe('op-a');
    const reconcilesOfB = (await b.metrics.reconciles.get()).values.reduce(
      (s, v) => s + v.value,
      0,
    );
    expect(reconcilesOfB).toBe(0);
    expect((await b.metrics.leader.get()).values[0]?.value).toBe(0);

    // The leader shuts down (SIGTERM path): it releases the Lease, b takes over quickly.
    const stoppedAt = Date.now();
    await a.stop();
    await eventually(
      'op-b to lead',
      () => Promise.resolve(b.operator.isLeader() ? true : undefined),
      10_000,
    );
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect((await new KubeLeaseClient(kc, ns, 'figway-operator').get())?.holderIdentity).toBe(
      'op-b',
    );
    await setWeight(kc, ns, 'shared', 70);
    const route = await waitForCondition(kc, ns, 'shared', 'Ready', 'True', 30_000);
    expect(route.status?.routes).toEqual([{ name: 'api', newServicePercent: 70 }]);
    expect((await b.metrics.leader.get()).values[0]?.value).toBe(1);
  }, 120_000);

  test('a leader cut off from the API server steps down; the other leads only after the Lease expires, never both at once', async () => {
    // A crashed or partitioned leader cannot release the Lease. Its Lease calls fail from
    // here on, while the rest of its API access (and so its ability to write) stays.
    const partitionNs = await createNamespace(kc, 'le-cut');
    let cutOff = false;
    const real = new KubeLeaseClient(kc, partitionNs, 'figway-operator');
    const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED (partitioned)'));
    const partitioned: LeaseClient = {
      description: real.description,
      get: () => (cutOff ? unreachable() : real.get()),
      create: (record) => (cutOff ? unreachable() : real.create(record)),
      update: (record) => (cutOff ? unreachable() : real.update(record)),
    };
    const options = {
      namespaces: [partitionNs],
      leaseName: 'figway-operator',
      leaseNamespace: partitionNs,
    };
    const a = await startOperator(kc, { ...options, identity: 'cut-a', lease: partitioned });
    running.push(a);
    await eventually(
      'cut-a to lead',
      () => Promise.resolve(a.operator.isLeader() || undefined),
      15_000,
    );
    const b = await startOperator(kc, { ...options, identity: 'cut-b' });
    running.push(b);
    await createApiRoute(kc, apiRouteManifest(partitionNs, 'cut', { replicas: 1, weight: 20 }));
    await waitForCondition(kc, partitionNs, 'cut', 'Ready', 'True', 60_000);

    const lastRenew = (await real.get())?.renewTime ?? Date.now();
    cutOff = true;
    const cutAt = Date.now();
    let stepDownMs: number | undefined;
    let takeOverMs: number | undefined;
    // Sample both every 20 ms until b leads (bounded: 15 s).
    while (takeOverMs === undefined && Date.now() - cutAt < 15_000) {
      const [aLeads, bLeads] = [a.operator.isLeader(), b.operator.isLeader()];
      expect(aLeads && bLeads).toBe(false);
      if (!aLeads) stepDownMs ??= Date.now() - cutAt;
      if (bLeads) takeOverMs = Date.now() - cutAt;
      await sleep(20);
    }
    // Settings of startOperator: leaseDuration 3 s, renewDeadline 2 s, retryPeriod 0.5 s.
    expect(stepDownMs).toBeDefined();
    expect(stepDownMs).toBeLessThanOrEqual(3_000);
    expect(takeOverMs).toBeDefined();
    // b may take the Lease only once it expired: 3 s after the last renew it saw.
    expect(cutAt + (takeOverMs ?? 0)).toBeGreaterThanOrEqual(lastRenew + 3_000);
    expect((await real.get())?.holderIdentity).toBe('cut-b');

    await setWeight(kc, partitionNs, 'cut', 90);
    const route = await waitForCondition(kc, partitionNs, 'cut', 'Ready', 'True', 30_000);
    expect(route.status?.routes).toEqual([{ name: 'api', newServicePercent: 90 }]);
    expect((await a.metrics.leader.get()).values[0]?.value).toBe(0);
    await deleteNamespace(kc, partitionNs);
  }, 120_000);
});
