// The gateway's ConfigMap source against a scripted list/watch endpoint: loading, keeping
// the last good table, and recovering from every way a watch ends.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import {
  compileRouteTable,
  ROUTE_TABLE_KEY,
  serializeRouteTable,
  type RouteTable,
} from '../../../src/api/index.js';
import { ConfigMapConfigSource } from '../../../src/gateway/configmap-source.js';
import { validApiRoute } from '../../tools/api-route.js';
import { FakeApi } from '../common/fake-api.js';

function table(weight: number): string {
  const route = validApiRoute(
    parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: api
      match: { path: { value: /api } }
      backends: [{ service: orders, port: 80, weight: ${weight} }, { monolith: true, weight: ${100 - weight} }]
`),
  );
  return serializeRouteTable(compileRouteTable(route));
}

function configMap(rv: string, text: string | undefined) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'orders-gateway', namespace: 'shop', resourceVersion: rv },
    data: text === undefined ? {} : { [ROUTE_TABLE_KEY]: text },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ConfigMapConfigSource', () => {
  let api: FakeApi;
  let kc: KubeConfig;
  let source: ConfigMapConfigSource;
  let tables: RouteTable[];
  let errors: Error[];

  beforeEach(async () => {
    api = new FakeApi();
    kc = await api.start();
    tables = [];
    errors = [];
    source = new ConfigMapConfigSource({
      namespace: 'shop',
      name: 'orders-gateway',
      kubeConfig: kc,
      backoff: { initialMs: 10, maxMs: 40 },
      random: () => 0.5,
    });
  });

  afterEach(async () => {
    await source.stop();
    await api.stop();
  });

  const start = () =>
    source.start(
      (t) => tables.push(t),
      (e) => errors.push(e),
    );
  const percent = () => tables.at(-1)?.routes[0]?.newServicePercent;

  test('lists by name, loads the table, then watches from the list resourceVersion', async () => {
    api.listBody = { metadata: { resourceVersion: '42' }, items: [configMap('40', table(10))] };
    await start();
    expect(percent()).toBe(10);
    await api.waitForRequests(2);
    const [list, watch] = api.requests;
    expect(list?.path).toBe('/api/v1/namespaces/shop/configmaps');
    expect(list?.query.get('fieldSelector')).toBe('metadata.name=orders-gateway');
    expect(watch?.query.get('fieldSelector')).toBe('metadata.name=orders-gateway');
    expect(watch?.query.get('resourceVersion')).toBe('42');
    api.send('MODIFIED', configMap('43', table(60)));
    await until('the edit', () => percent() === 60);
    expect(errors).toEqual([]);
  });

  test('an invalid table is reported and the last good one stays', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.send('MODIFIED', configMap('6', '{"version": 99}'));
    api.send('MODIFIED', configMap('7', undefined));
    await until('two errors', () => errors.length === 2);
    expect(errors[0]?.message).toContain('invalid route table');
    expect(errors[1]?.message).toContain(`no ${ROUTE_TABLE_KEY} key`);
    expect(tables).toHaveLength(1);
    // A later valid table is still taken.
    api.send('MODIFIED', configMap('8', table(30)));
    await until('the valid edit', () => percent() === 30);
  });

  test('the same table again (a label edit) is not delivered twice', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.send('MODIFIED', configMap('6', table(10)));
    api.send('MODIFIED', configMap('7', table(20)));
    await until('the second table', () => tables.length === 2);
    expect(tables.map((t) => t.routes[0]?.newServicePercent)).toEqual([10, 20]);
  });

  test('a dropped watch resumes from the last seen resourceVersion, without a relist', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.send('MODIFIED', configMap('9', table(20)));
    await until('the edit', () => percent() === 20);
    api.dropWatch();
    await api.waitForRequests(3);
    expect(api.listRequests()).toHaveLength(1);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('9');
    expect(
      errors.some((e) => e.message.includes('watch of ConfigMap shop/orders-gateway failed')),
    ).toBe(true);
    api.send('MODIFIED', configMap('10', table(30)));
    await until('the edit after the reconnect', () => percent() === 30);
  });

  test('a refused watch is reported with the API server message, and retried', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    api.failWatches = [403];
    await start();
    await api.waitForRequests(3);
    expect(errors.map((e) => e.message)).toEqual([
      'watch of ConfigMap shop/orders-gateway failed: the API server refused the watch: HTTP 403: injected failure',
    ]);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('5');
  });

  test('a bookmark advances the resourceVersion a resumed watch starts from', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.send('BOOKMARK', { metadata: { resourceVersion: '77' } });
    await new Promise((r) => setTimeout(r, 50));
    api.endWatch();
    await api.waitForRequests(3);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('77');
  });

  test('410 Gone relists and picks up a change made while history was lost', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.listBody = { metadata: { resourceVersion: '500' }, items: [configMap('499', table(70))] };
    api.send('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    api.endWatch();
    await until('the relisted table', () => percent() === 70);
    expect(api.listRequests()).toHaveLength(2);
    await api.waitForRequests(4);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('500');
  });

  test('a failing first list is reported, start still resolves, and the source retries', async () => {
    api.failLists = [503, 500];
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(40))] };
    await start();
    expect(tables).toEqual([]);
    expect(errors[0]?.message).toBe('failed to list ConfigMap shop/orders-gateway: HTTP 503');
    await until('the table after retries', () => percent() === 40);
    expect(api.listRequests()).toHaveLength(3);
  });

  test('a deleted ConfigMap is reported and its re-creation is loaded', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    api.send('DELETED', configMap('6', table(10)));
    await until('the deletion error', () => errors.length === 1);
    expect(errors[0]?.message).toContain('was deleted; keeping the last route table');
    api.send('ADDED', configMap('7', table(10)));
    await until('the re-created table', () => tables.length === 2);
  });

  test('a watch silent past the watchdog limit is reported and relisted', async () => {
    await source.stop();
    source = new ConfigMapConfigSource({
      namespace: 'shop',
      name: 'orders-gateway',
      kubeConfig: kc,
      silenceLimitMs: 200,
    });
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    api.listBody = { metadata: { resourceVersion: '9' }, items: [configMap('8', table(50))] };
    await until('the relisted table', () => percent() === 50);
    expect(errors.map((e) => e.message)).toEqual([
      'watch of ConfigMap shop/orders-gateway delivered nothing, not even a bookmark, for 0.2 s; relisting',
    ]);
  });

  test('stop ends the watch and no retry follows', async () => {
    api.listBody = { metadata: { resourceVersion: '5' }, items: [configMap('5', table(10))] };
    await start();
    await api.waitForRequests(2);
    await source.stop();
    api.dropWatch();
    await new Promise((r) => setTimeout(r, 150));
    expect(api.requests).toHaveLength(2);
  });
});
