// ResilientInformer against a scripted list/watch endpoint: what the operator relies on
// (sync, restarts, resync, isolated handlers, no managedFields in the cache). The watch's
// own recovery paths are pinned in test/unit/common/watch.test.ts.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ResilientInformer, type InformerEvent } from '../../../src/operator/informer.js';
import { FakeApi } from '../common/fake-api.js';

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cm = (name: string, rv: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'shop',
    resourceVersion: rv,
    labels: { 'figway.dev/apiroute': 'orders' },
  },
});

describe('ResilientInformer', () => {
  let api: FakeApi;
  let kc: KubeConfig;
  let informer: ResilientInformer<KubernetesObject>;
  let events: [InformerEvent, string][];
  let previousVersions: (string | undefined)[];
  let restarts: number;
  let handlerErrors: unknown[];
  let throwOn: string | undefined;

  beforeEach(async () => {
    api = new FakeApi();
    kc = await api.start();
    events = [];
    previousVersions = [];
    restarts = 0;
    handlerErrors = [];
    throwOn = undefined;
    informer = new ResilientInformer<KubernetesObject>({
      kind: 'ConfigMap',
      kubeConfig: kc,
      path: '/api/v1/namespaces/shop/configmaps',
      labelSelector: 'figway.dev/apiroute',
      // Discovery-free list, so the fake needs no /api/v1 resource list.
      list: async () => {
        const res = await fetch(
          `${kc.getCurrentCluster()?.server ?? ''}/api/v1/namespaces/shop/configmaps`,
        );
        if (!res.ok)
          throw Object.assign(new Error(`list failed: HTTP ${res.status}`), {
            statusCode: res.status,
          });
        return (await res.json()) as {
          items: KubernetesObject[];
          metadata: { resourceVersion: string };
        };
      },
      onEvent: (event, obj, previous) => {
        const name = obj.metadata?.name ?? '';
        if (name === throwOn) throw new Error('handler bug');
        events.push([event, name]);
        previousVersions.push(previous?.metadata?.resourceVersion);
      },
      onRestart: () => {
        restarts += 1;
      },
      onHandlerError: (error) => handlerErrors.push(error),
      backoff: { initialMs: 10, maxMs: 40 },
      random: () => 0.5,
    });
  });

  afterEach(async () => {
    await informer.stop();
    await api.stop();
  });

  test('synced resolves only once the cache holds the listed objects (regression: it resolved before ListWatch filled it), then watches from the list resourceVersion', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9')] };
    informer.start();
    await informer.synced;
    expect(informer.get('a', 'shop')?.metadata?.name).toBe('a');
    await api.waitForRequests(2);
    expect(api.watchRequests()[0]?.query.get('resourceVersion')).toBe('10');
    expect(api.watchRequests()[0]?.query.get('labelSelector')).toBe('figway.dev/apiroute');
    api.send('ADDED', cm('b', '11'));
    await until('b', () => events.some(([, n]) => n === 'b'));
    expect(events).toEqual([
      ['add', 'a'],
      ['add', 'b'],
    ]);
  });

  test('a failed list is retried with backoff until it works', async () => {
    api.failLists = [500, 503];
    api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9')] };
    informer.start();
    await informer.synced;
    expect(restarts).toBe(2);
    expect(informer.isSynced).toBe(true);
  });

  test('a dropped watch is restarted from the last resourceVersion and keeps delivering', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    informer.start();
    await informer.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('a', '12'));
    await until('a', () => events.length === 1);
    // Kill the watch connection the way an API server restart does.
    api.dropWatch();
    await until('a new watch', () => api.watchRequests().length >= 2);
    expect(api.watchRequests().at(-1)?.query.get('resourceVersion')).toBe('12');
    api.send('MODIFIED', cm('a', '13'));
    await until('the update after the restart', () => events.length === 2);
    expect(events[1]).toEqual(['update', 'a']);
    // An update hands the handler the object it replaced (for the operator's predicates).
    expect(previousVersions).toEqual([undefined, '12']);
  });

  test('a throwing handler is reported and does not stop the informer', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    throwOn = 'bad';
    informer.start();
    await informer.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('bad', '11'));
    api.send('ADDED', cm('good', '12'));
    await until('good', () => events.some(([, n]) => n === 'good'));
    expect(handlerErrors).toHaveLength(1);
  });

  test('resync hands every cached object to the handler again', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9'), cm('b', '9')] };
    informer.start();
    await informer.synced;
    // Regression: resync right after sync must see the listed objects.
    events = [];
    informer.resync();
    expect(events.sort()).toEqual([
      ['resync', 'a'],
      ['resync', 'b'],
    ]);
  });

  test('cached objects carry no managedFields, whether listed or watched', async () => {
    const managed = (name: string, rv: string) => ({
      ...cm(name, rv),
      metadata: {
        ...cm(name, rv).metadata,
        managedFields: [{ manager: 'figway', operation: 'Apply', fieldsV1: { 'f:data': {} } }],
      },
    });
    api.listBody = { metadata: { resourceVersion: '10' }, items: [managed('listed', '9')] };
    informer.start();
    await informer.synced;
    await api.waitForRequests(2);
    api.send('ADDED', managed('watched', '11'));
    await until('watched', () => informer.get('watched', 'shop') !== undefined);
    for (const name of ['listed', 'watched']) {
      const cached = informer.get(name, 'shop');
      expect(cached?.metadata?.labels).toEqual({ 'figway.dev/apiroute': 'orders' });
      expect(cached?.metadata).not.toHaveProperty('managedFields');
    }
  });
});
