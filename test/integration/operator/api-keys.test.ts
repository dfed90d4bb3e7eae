// auth.apiKey on the real control plane: a Secret of consumer → key reaches a gateway that
// reads it with its OWN ServiceAccount (so the Role the operator wrote, with resourceNames,
// is what authorises the list and the watch), a key rotated in the Secret applies without a
// restart, a deleted Secret leaves the last good keys in use, and an ApiRoute naming a
// Secret that does not exist gets Accepted=False naming it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../../src/common/logger.js';
import { KubeSecretSource } from '../../../src/gateway/secret-source.js';
import { SecretStore } from '../../../src/gateway/secret-store.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/command.js';
import { ConfigMapConfigSource } from '../../../src/gateway/configmap-source.js';
import { testClusterEnv } from '../../cluster/env.js';
import { serviceAccountKubeConfig } from '../../tools/kube.js';
import {
  apiRouteManifest,
  clients,
  condition,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  eventually,
  getApiRoute,
  installCrd,
  kubeConfig,
  setWeight,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

function withApiKey(namespace: string, name: string, secret: string) {
  const manifest = apiRouteManifest(namespace, name, { replicas: 1, weight: 100 });
  const route = manifest.spec.routes[0] as Record<string, unknown>;
  route.auth = { apiKey: { secretRef: { name: secret } } };
  return manifest;
}

describeCluster('API keys from a Secret', () => {
  let kc: KubeConfig;
  let ns: string;
  let op: RunningOperator | undefined;
  let gateway: RunningGateway | undefined;
  let upstream: Server | undefined;
  /** Headers the upstream saw on the last request. */
  let seen: IncomingHttpHeaders = {};

  const call = async (key?: string) => {
    const res = await fetch(`http://127.0.0.1:${gateway?.port ?? 0}/api/orders`, {
      headers: key !== undefined ? { 'x-api-key': key, 'x-figway-consumer': 'mallory' } : {},
    });
    return { status: res.status, body: await res.text() };
  };

  const setKeys = async (data: Record<string, string>) => {
    const body = { metadata: { name: 'shop-keys' }, stringData: data, type: 'Opaque' };
    const core = clients(kc).core;
    await core
      .replaceNamespacedSecret({ name: 'shop-keys', namespace: ns, body: { ...body, data: {} } })
      .catch(() => core.createNamespacedSecret({ namespace: ns, body }));
  };

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'apikey');
    op = await startOperator(kc, { namespaces: [ns] });
    upstream = createServer((req, res) => {
      seen = req.headers;
      res.end('orders');
    });
    await new Promise<void>((resolve) => upstream?.listen(0, '127.0.0.1', resolve));
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop(0);
    await op?.stop();
    upstream?.close();
    await deleteNamespace(kc, ns);
  });

  test('keys reach the gateway, rotate without a restart, and survive the Secret’s deletion', async () => {
    await setKeys({ alice: 'key-one', bob: 'key-bob' });
    await createApiRoute(kc, withApiKey(ns, 'shop', 'shop-keys'));
    await waitForCondition(kc, ns, 'shop', 'Ready', 'True', 90_000);

    const gatewayKc = await serviceAccountKubeConfig(kc, ns, 'shop-gateway');
    const secrets = new SecretStore();
    const errors: string[] = [];
    const url = `http://127.0.0.1:${(upstream?.address() as AddressInfo).port}`;
    gateway = await startGateway({
      source: new ConfigMapConfigSource({
        namespace: ns,
        name: 'shop-gateway',
        kubeConfig: gatewayKc,
      }),
      secretSource: new KubeSecretSource({
        namespace: ns,
        store: secrets,
        kubeConfig: gatewayKc,
        onError: (error) => errors.push(error.message),
      }),
      secrets,
      port: 0,
      adminPort: 0,
      host: '127.0.0.1',
      overrides: new Map([
        ['legacy', url],
        ['orders', url],
      ]),
      logger: createLogger({ component: 'gateway', silent: process.env.FIGWAY_TEST_LOGS !== '1' }),
    });

    // Loaded before startGateway returned: the first request already knows the keys.
    expect(await call('key-one')).toEqual({ status: 200, body: 'orders' });
    expect(seen['x-figway-consumer']).toBe('alice');
    expect(seen['x-api-key']).toBeUndefined();
    expect((await call()).status).toBe(401);
    const unknown = await call('key-two');
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.body)).toMatchObject({ reason: 'api-key-unknown' });

    // Rotation: the new key works and the old one stops, on the running gateway.
    const rotatedAt = Date.now();
    await setKeys({ alice: 'key-two', bob: 'key-bob' });
    await eventually(
      'the rotated key',
      async () => ((await call('key-two')).status === 200 ? true : undefined),
      5000,
    );
    const rotationMs = Date.now() - rotatedAt;
    expect(rotationMs).toBeLessThan(2000);
    expect((await call('key-one')).status).toBe(401);
    expect(seen['x-figway-consumer']).toBe('alice');

    // Deleted: the gateway says so and keeps the last good keys.
    await clients(kc).core.deleteNamespacedSecret({ name: 'shop-keys', namespace: ns });
    await eventually('the deletion is reported', () =>
      Promise.resolve(errors.some((e) => e.includes('was deleted')) ? true : undefined),
    );
    expect((await call('key-two')).status).toBe(200);

    // The operator notices on its next reconcile (it does not watch Secrets): Accepted=False.
    await setWeight(kc, ns, 'shop', 90);
    const refused = await waitForCondition(kc, ns, 'shop', 'Accepted', 'False', 30_000);
    expect(condition(refused.status, 'Accepted')).toMatchObject({
      reason: 'SecretNotFound',
      message: expect.stringContaining(`Secret ${ns}/shop-keys not found`),
    });
    expect((await call('key-two')).status).toBe(200);

    // Recreated: the operator accepts the ApiRoute again after a retry, the gateway takes the keys.
    await setKeys({ carol: 'key-carol' });
    await waitForCondition(kc, ns, 'shop', 'Accepted', 'True', 30_000);
    await eventually(
      'the recreated Secret',
      async () => ((await call('key-carol')).status === 200 ? true : undefined),
      5000,
    );
    expect(seen['x-figway-consumer']).toBe('carol');
  }, 180_000);

  test('the gateway ServiceAccount reads only the Secrets its ApiRoute names', async () => {
    const core = clients(kc).core;
    await setKeys({ carol: 'key-carol' });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'other' }, stringData: { x: 'y' } },
    });
    const asGateway = clients(await serviceAccountKubeConfig(kc, ns, 'shop-gateway')).core;
    await expect(
      asGateway.readNamespacedSecret({ name: 'other', namespace: ns }),
    ).rejects.toMatchObject({ code: 403 });
    await expect(asGateway.listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({
      code: 403,
    });
    await expect(
      asGateway.listNamespacedSecret({ namespace: ns, fieldSelector: 'metadata.name=other' }),
    ).rejects.toMatchObject({ code: 403 });
    // list by resourceNames works only with the name's fieldSelector, as the gateway sends it.
    const own = await asGateway.listNamespacedSecret({
      namespace: ns,
      fieldSelector: 'metadata.name=shop-keys',
    });
    expect(own.items.map((s) => s.metadata?.name)).toEqual(['shop-keys']);
  }, 60_000);

  test('an ApiRoute naming a missing Secret gets Accepted=False naming it, and no gateway', async () => {
    await createApiRoute(kc, withApiKey(ns, 'lost', 'no-such-keys'));
    const route = await waitForCondition(kc, ns, 'lost', 'Accepted', 'False', 30_000);
    expect(condition(route.status, 'Accepted')).toMatchObject({
      reason: 'SecretNotFound',
      message: expect.stringContaining(`Secret ${ns}/no-such-keys not found`),
    });
    await expect(
      clients(kc).apps.readNamespacedDeployment({ name: 'lost-gateway', namespace: ns }),
    ).rejects.toMatchObject({ code: 404 });
    expect((await getApiRoute(kc, ns, 'lost')).status?.gateway).toBeUndefined();
  }, 60_000);
});
