// The resilient watch against a scripted list/watch endpoint: the ways a watch ends, the
// watchdog, and what reaches the handler and the cache.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import {
  ResilientWatch,
  WatchRequestError,
  WatchStatusError,
  type RelistReason,
  type ResilientWatchOptions,
  type WatchEvent,
  type WatchFailure,
} from '../../../src/common/watch.js';
import { FakeApi } from './fake-api.js';

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cm = (name: string, rv: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'shop', resourceVersion: rv },
  ...extra,
});

describe('ResilientWatch', () => {
  let api: FakeApi;
  let kc: KubeConfig;
  let watch: ResilientWatch<KubernetesObject> | undefined;
  let events: [WatchEvent, string][];
  let failures: WatchFailure[];
  let relists: RelistReason[];
  let handlerErrors: unknown[];

  beforeEach(async () => {
    api = new FakeApi();
    kc = await api.start();
    events = [];
    failures = [];
    relists = [];
    handlerErrors = [];
  });

  afterEach(async () => {
    await watch?.stop();
    watch = undefined;
    await api.stop();
  });

  function startWatch(
    options: Partial<ResilientWatchOptions<KubernetesObject>> = {},
  ): ResilientWatch<KubernetesObject> {
    const server = kc.getCurrentCluster()?.server ?? '';
    watch = new ResilientWatch<KubernetesObject>({
      kubeConfig: kc,
      path: '/api/v1/namespaces/shop/configmaps',
      list: async ({ labelSelector, fieldSelector }) => {
        const query = new URLSearchParams();
        if (labelSelector) query.set('labelSelector', labelSelector);
        if (fieldSelector) query.set('fieldSelector', fieldSelector);
        const res = await fetch(`${server}/api/v1/namespaces/shop/configmaps?${query.toString()}`);
        if (!res.ok)
          throw Object.assign(new Error(`list failed: HTTP ${res.status}`), {
            statusCode: res.status,
          });
        return (await res.json()) as { items: KubernetesObject[] };
      },
      onEvent: (event, obj) => {
        events.push([event, obj.metadata?.name ?? '']);
      },
      onFailure: (f) => failures.push(f),
      onRelist: (reason) => relists.push(reason),
      onHandlerError: (error) => handlerErrors.push(error),
      backoff: { initialMs: 10, maxMs: 40 },
      random: () => 0.5,
      ...options,
    });
    watch.start();
    return watch;
  }

  test('lists and watches with the same selectors, from the list resourceVersion, with bookmarks and a server timeout', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9')] };
    const w = startWatch({
      labelSelector: 'figway.dev/apiroute',
      fieldSelector: 'metadata.name=a',
      watchTimeoutSeconds: 17,
    });
    await w.synced;
    expect(w.get('a', 'shop')?.metadata?.resourceVersion).toBe('9');
    await api.waitForRequests(2);
    const [list, watchRequest] = api.requests;
    expect(list?.query.get('labelSelector')).toBe('figway.dev/apiroute');
    expect(list?.query.get('fieldSelector')).toBe('metadata.name=a');
    expect(Object.fromEntries(watchRequest?.query ?? [])).toEqual({
      watch: 'true',
      labelSelector: 'figway.dev/apiroute',
      fieldSelector: 'metadata.name=a',
      resourceVersion: '10',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '17',
    });
  });

  test('410 Gone as an ERROR event relists at once; the relist is diffed against the cache', async () => {
    api.listBody = {
      metadata: { resourceVersion: '10' },
      items: [cm('kept', '9'), cm('gone', '9')],
    };
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(2);
    events = [];
    // While history was lost: `gone` was deleted, `kept` changed, `new` appeared.
    api.listBody = {
      metadata: { resourceVersion: '500' },
      items: [cm('kept', '450'), cm('new', '460')],
    };
    api.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
    await api.waitForRequests(4);
    expect(api.listRequests()).toHaveLength(2);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('500');
    expect(events.sort()).toEqual([
      ['add', 'new'],
      ['delete', 'gone'],
      ['update', 'kept'],
    ]);
    expect(relists).toEqual(['expired']);
    // Routine, not a failure.
    expect(failures).toEqual([]);
    expect(
      w
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['kept', 'new']);
  });

  test('410 Gone as the HTTP status of a watch request relists too', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    api.failWatches = [410];
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(4);
    expect(api.requests.map((r) => r.query.get('watch') ?? 'list')).toEqual([
      'list',
      'true',
      'list',
      'true',
    ]);
    expect(relists).toEqual(['expired']);
  });

  test('a server that answers every watch with 410 is relisted with backoff, not in a tight loop', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    api.failWatches = Array.from({ length: 100 }, () => 410);
    startWatch({ backoff: { initialMs: 100, maxMs: 100 } });
    await sleep(400);
    // At once, then one per ~75-100 ms: a tight loop would have made hundreds.
    expect(api.listRequests().length).toBeGreaterThanOrEqual(3);
    expect(api.listRequests().length).toBeLessThanOrEqual(8);
  });

  test('a clean end (the server timeout) resumes at once from the last resourceVersion, without a failure', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('a', '11'));
    await until('a', () => events.length === 1);
    api.endWatch();
    await api.waitForRequests(3);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('11');
    expect(api.listRequests()).toHaveLength(1);
    expect(failures).toEqual([]);
  });

  test('a watch the server closes at once, without an event, counts as a failure', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(2);
    api.endWatch();
    await until('the failure', () => failures.length === 1);
    expect(failures[0]?.phase).toBe('watch');
    expect(String(failures[0]?.error)).toContain('closed the watch at once');
    await api.waitForRequests(3);
    expect(api.listRequests()).toHaveLength(1);
  });

  test('consecutive failures back off with growing, capped, jittered delays', async () => {
    api.failLists = [500, 500, 500, 500];
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch();
    await w.synced;
    // random 0.5 over ceilings 10, 20, 40, 40: three quarters of each.
    expect(failures.map((f) => [f.phase, f.retryInMs])).toEqual([
      ['list', 8],
      ['list', 15],
      ['list', 30],
      ['list', 30],
    ]);
  });

  test('an ERROR event other than 410 is a failure; the watch resumes from the same resourceVersion', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(2);
    api.send('ERROR', {
      kind: 'Status',
      code: 500,
      reason: 'InternalError',
      message: 'etcd hiccup',
    });
    await api.waitForRequests(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.error).toBeInstanceOf(WatchStatusError);
    expect((failures[0]?.error as Error).message).toBe(
      'the API server sent an ERROR event: etcd hiccup (InternalError, code 500)',
    );
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('10');
    expect(api.listRequests()).toHaveLength(1);
  });

  test('a connection that carries nothing past the inactivity limit is reopened at once, from the last resourceVersion', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch({ inactivityLimitMs: 200 });
    await w.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('a', '11'));
    const quietFrom = Date.now();
    await api.waitForRequests(3);
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(180);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('11');
    // Routine: no failure, no relist.
    expect(failures).toEqual([]);
    expect(relists).toEqual([]);
  });

  test('a watch request without an answer within the connect timeout is a failure', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    api.unansweredWatches = 1;
    const w = startWatch({ connectTimeoutMs: 200 });
    await w.synced;
    await until('the failure', () => failures.length === 1);
    expect((failures[0]?.error as Error).message).toBe(
      'the API server did not answer the watch within 200 ms',
    );
    await api.waitForRequests(3);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('10');
  });

  test('a refused watch is a failure that carries the server message, and resumes without a relist', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    api.failWatches = [403];
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.error).toBeInstanceOf(WatchRequestError);
    expect((failures[0]?.error as WatchRequestError).statusCode).toBe(403);
    expect((failures[0]?.error as Error).message).toBe(
      'the API server refused the watch: HTTP 403: injected failure',
    );
    expect(api.listRequests()).toHaveLength(1);
  });

  test('an event split across chunks is read whole; a malformed line fails the watch', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch();
    await w.synced;
    await api.waitForRequests(2);
    const line = JSON.stringify({ type: 'ADDED', object: cm('split', '11') });
    api.write(line.slice(0, 20));
    await sleep(30);
    api.write(`${line.slice(20)}\n`);
    await until('split', () => w.get('split', 'shop') !== undefined);
    api.write('{"type": "ADDED", "object": \n');
    await until('the failure', () => failures.length === 1);
    expect(failures[0]?.error).toBeInstanceOf(SyntaxError);
    await api.waitForRequests(3);
    expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('11');
  });

  describe('watchdog', () => {
    test('a watch that stays silent, not even a bookmark, is relisted once the limit passes', async () => {
      api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9')] };
      const w = startWatch({ silenceLimitMs: 300 });
      await w.synced;
      const syncedAt = Date.now();
      await api.waitForRequests(2);
      api.listBody = { metadata: { resourceVersion: '20' }, items: [cm('a', '19')] };
      await until('the relist', () => api.listRequests().length === 2, 3000);
      const after = Date.now() - syncedAt;
      expect(after).toBeGreaterThanOrEqual(280);
      expect(after).toBeLessThan(1500);
      expect(relists).toEqual(['silent']);
      await api.waitForRequests(4);
      expect(api.watchRequests()[1]?.query.get('resourceVersion')).toBe('20');
      expect(events.at(-1)).toEqual(['update', 'a']);
    });

    test('bookmarks reset it: a watch that only sends bookmarks is never relisted', async () => {
      api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
      const w = startWatch({ silenceLimitMs: 300 });
      await w.synced;
      await api.waitForRequests(2);
      for (let i = 0; i < 9; i++) {
        await sleep(100);
        api.send('BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: String(11 + i) } });
      }
      // 900 ms, three limits: no relist while bookmarks arrive.
      expect(api.listRequests()).toHaveLength(1);
      expect(relists).toEqual([]);
      // Once they stop, the watchdog fires.
      await until('the relist', () => api.listRequests().length === 2, 3000);
      expect(relists).toEqual(['silent']);
    });

    test('events reset it too', async () => {
      api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
      const w = startWatch({ silenceLimitMs: 300 });
      await w.synced;
      await api.waitForRequests(2);
      for (let i = 0; i < 6; i++) {
        await sleep(100);
        api.send('MODIFIED', cm('a', String(11 + i)));
      }
      expect(api.listRequests()).toHaveLength(1);
    });

    test('watches that keep ending without delivering anything do not feed it', async () => {
      api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
      const w = startWatch({ silenceLimitMs: 400 });
      await w.synced;
      // Each watch ends after a quiet moment and is resumed: connections, but no news.
      const ended = setInterval(() => {
        api.endWatch();
      }, 120);
      try {
        await until('the relist', () => api.listRequests().length === 2, 3000);
      } finally {
        clearInterval(ended);
      }
      expect(relists).toContain('silent');
    });
  });

  test('handlers are isolated: a throw and a rejected promise are reported, the watch goes on', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch({
      onEvent: async (event, obj) => {
        const name = obj.metadata?.name ?? '';
        if (name === 'throws') throw new Error('sync bug');
        await Promise.resolve();
        if (name === 'rejects') throw new Error('async bug');
        events.push([event, name]);
      },
    });
    await w.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('throws', '11'));
    api.send('ADDED', cm('rejects', '12'));
    api.send('ADDED', cm('good', '13'));
    await until('good', () => events.length === 1);
    await until('both errors', () => handlerErrors.length === 2);
    expect(handlerErrors.map((e) => (e as Error).message).sort()).toEqual([
      'async bug',
      'sync bug',
    ]);
    // The cache holds all three: the handler's failure is not the watch's.
    expect(w.list()).toHaveLength(3);
  });

  test('a hook that throws does not stop the retries', async () => {
    api.failLists = [500, 500];
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch({
      onFailure: () => {
        throw new Error('logger down');
      },
    });
    await w.synced;
    expect(handlerErrors).toHaveLength(2);
  });

  test('the transform runs before caching and before the handler, for listed and watched objects', async () => {
    api.listBody = {
      metadata: { resourceVersion: '10' },
      items: [cm('listed', '9', { data: { big: 'x' } })],
    };
    const seen: unknown[] = [];
    const w = startWatch({
      transform: (obj) => {
        delete (obj as { data?: unknown }).data;
        return obj;
      },
      onEvent: (_event, obj) => {
        seen.push(obj);
      },
    });
    await w.synced;
    await api.waitForRequests(2);
    api.send('ADDED', cm('watched', '11', { data: { big: 'y' } }));
    await until('watched', () => w.get('watched', 'shop') !== undefined);
    for (const name of ['listed', 'watched'])
      expect(w.get(name, 'shop')).not.toHaveProperty('data');
    for (const obj of seen) expect(obj).not.toHaveProperty('data');
  });

  test('resync hands every cached object to the handler again, without a request', async () => {
    api.listBody = { metadata: { resourceVersion: '10' }, items: [cm('a', '9'), cm('b', '9')] };
    startWatch({ resyncMs: 100 });
    await until('two resyncs', () => events.filter(([e]) => e === 'resync').length >= 4, 3000);
    expect(api.listRequests()).toHaveLength(1);
  });

  test('stop ends the watch and nothing follows, even a pending retry', async () => {
    api.failLists = [500];
    api.listBody = { metadata: { resourceVersion: '10' }, items: [] };
    const w = startWatch({ backoff: { initialMs: 100, maxMs: 100 }, silenceLimitMs: 50 });
    await until('the failure', () => failures.length === 1);
    await w.stop();
    await sleep(250);
    expect(api.requests).toHaveLength(1);
    expect(w.isSynced).toBe(false);
  });
});
