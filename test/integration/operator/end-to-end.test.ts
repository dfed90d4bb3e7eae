// End to end on the real control plane: the operator runs, a gateway (started here) loads
// its route table by watching its ConfigMap with its OWN ServiceAccount token (so the Role
// the operator wrote is what authorises it), real upstreams listen on loopback, and an
// ApiRoute weight edit changes the traffic split within a second, without a failed request.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, request, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../../src/common/logger.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/command.js';
import { ConfigMapConfigSource } from '../../../src/gateway/configmap-source.js';
import { testClusterEnv } from '../../cluster/env.js';
import {
  apiRouteManifest,
  clients,
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
import { serviceAccountKubeConfig } from '../../tools/kube.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

async function upstream(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Sample {
  at: number;
  backend: string | undefined;
  status: number | undefined;
  error?: string;
}

/** Keeps `clients` keep-alive connections busy with requests until stopped. */
function load(port: number, clientsCount: number) {
  const samples: Sample[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: clientsCount });
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/orders/1', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          samples.push({
            at: Date.now(),
            backend: res.headers['x-figway-backend'] as string | undefined,
            status: res.statusCode,
          });
          resolve();
        });
      });
      req.on('error', (error) => {
        samples.push({
          at: Date.now(),
          backend: undefined,
          status: undefined,
          error: error.message,
        });
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: clientsCount }, async () => {
    while (running) await one();
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

describeCluster('operator + gateway end to end', () => {
  let kc: KubeConfig;
  let ns: string;
  let op: RunningOperator | undefined;
  let gateway: RunningGateway | undefined;
  const upstreams: Server[] = [];

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'e2e');
    op = await startOperator(kc, { namespaces: [ns] });
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop(0);
    await op?.stop();
    for (const s of upstreams) s.close();
    await deleteNamespace(kc, ns);
  });

  test('a weight edit reaches traffic within 1 s with zero failed requests', async () => {
    const monolith = await upstream('monolith');
    const orders = await upstream('orders');
    upstreams.push(monolith.server, orders.server);
    await createApiRoute(kc, apiRouteManifest(ns, 'shop', { replicas: 1, weight: 0 }));
    const ready = await waitForCondition(kc, ns, 'shop', 'Ready', 'True', 90_000);

    // The gateway authenticates as its own ServiceAccount, which the operator's Role lets
    // read only its ConfigMap.
    const gatewayKc = await serviceAccountKubeConfig(kc, ns, 'shop-gateway');
    gateway = await startGateway({
      source: new ConfigMapConfigSource({
        namespace: ns,
        name: 'shop-gateway',
        kubeConfig: gatewayKc,
      }),
      port: 0,
      adminPort: 0,
      host: '127.0.0.1',
      overrides: new Map([
        ['legacy', monolith.url],
        ['orders', orders.url],
      ]),
      logger: createLogger({ component: 'gateway', silent: process.env.FIGWAY_TEST_LOGS !== '1' }),
    });
    const readyz = await fetch(`http://127.0.0.1:${gateway.admin.port}/readyz`);
    expect(readyz.status).toBe(200);
    expect(((await readyz.json()) as { configHash?: string }).configHash).toBe(
      ready.status?.gateway?.configHash,
    );

    const traffic = load(gateway.port, 4);
    await sleep(1000);
    const editAt = Date.now();
    await setWeight(kc, ns, 'shop', 100);
    await sleep(1500);
    const halfAt = Date.now();
    await setWeight(kc, ns, 'shop', 50);
    await sleep(2500);
    await traffic.stop();

    const failed = traffic.samples.filter((s) => s.status !== 200);
    expect(failed).toEqual([]);
    const before = traffic.samples.filter((s) => s.at < editAt);
    expect(before.length).toBeGreaterThan(20);
    expect(before.every((s) => s.backend === 'monolith')).toBe(true);
    // Within 1 s of the edit every request goes to the new service.
    const settled = traffic.samples.filter((s) => s.at >= editAt + 1000 && s.at < halfAt);
    expect(settled.length).toBeGreaterThan(20);
    expect(settled.every((s) => s.backend === 'orders')).toBe(true);
    const firstNew = traffic.samples.find((s) => s.at >= editAt && s.backend === 'orders');
    expect((firstNew?.at ?? Infinity) - editAt).toBeLessThan(1000);
    // And the 50/50 edit splits traffic (random split without a cohort key).
    const split = traffic.samples.filter((s) => s.at >= halfAt + 1000);
    const share = split.filter((s) => s.backend === 'orders').length / split.length;
    expect(split.length).toBeGreaterThan(50);
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.7);

    // The gateway serves the hash the operator reports, without any pod restart.
    const route = await eventually('status for the last edit', async () => {
      const r = await getApiRoute(kc, ns, 'shop');
      return r.status?.routes?.[0]?.newServicePercent === 50 ? r : undefined;
    });
    const after = (await (await fetch(`http://127.0.0.1:${gateway.admin.port}/readyz`)).json()) as {
      configHash?: string;
    };
    expect(after.configHash).toBe(route.status?.gateway?.configHash);
  }, 180_000);

  test('the gateway ServiceAccount cannot read other ConfigMaps', async () => {
    const c = clients(kc);
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'secret-ish' }, data: { a: 'b' } },
    });
    const gatewayKc = await serviceAccountKubeConfig(kc, ns, 'shop-gateway');
    const asGateway = clients(gatewayKc);
    await expect(
      asGateway.core.readNamespacedConfigMap({ name: 'secret-ish', namespace: ns }),
    ).rejects.toMatchObject({ code: 403 });
    await expect(asGateway.core.listNamespacedConfigMap({ namespace: ns })).rejects.toMatchObject({
      code: 403,
    });
    const own = await asGateway.core.listNamespacedConfigMap({
      namespace: ns,
      fieldSelector: 'metadata.name=shop-gateway',
    });
    expect(own.items.map((i) => i.metadata?.name)).toEqual(['shop-gateway']);
  }, 60_000);
});
