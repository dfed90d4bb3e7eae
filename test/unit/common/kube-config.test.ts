// PooledKubeConfig: API requests share one connection pool per cluster, user and TLS
// material, where client-node 2.0.1 alone builds a new one for every request.
import { describe, expect, test } from '@jest/globals';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../../src/common/kube-config.js';

const CA_A = Buffer.from('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n');
const CA_B = Buffer.from('-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n');

function configure(kc: KubeConfig, ca: Buffer, user = 'operator'): KubeConfig {
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: 'https://127.0.0.1:6443', caData: ca.toString('base64') }],
    users: [{ name: user, token: 'secret' }],
    contexts: [{ name: 'test', cluster: 'test', user }],
    currentContext: 'test',
  });
  return kc;
}

/** The dispatcher (connection pool) one API request would use. */
async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  const dispatcher = context.getDispatcher();
  expect(dispatcher).toBeDefined();
  return dispatcher;
}

describe('PooledKubeConfig', () => {
  test('the problem it works around: plain KubeConfig builds a new pool per request', async () => {
    // If this fails, client-node pools dispatchers itself and PooledKubeConfig can go.
    const kc = configure(new KubeConfig(), CA_A);
    expect(await dispatcherOf(kc)).not.toBe(await dispatcherOf(kc));
  });

  test('requests with the same cluster, user and TLS material share one pool', async () => {
    const kc = configure(new PooledKubeConfig(), CA_A);
    const first = await dispatcherOf(kc);
    expect(await dispatcherOf(kc)).toBe(first);
    expect(await dispatcherOf(kc)).toBe(first);
  });

  test('a rotated CA gets a new pool, and the old one is closed', async () => {
    const kc = configure(new PooledKubeConfig(), CA_A);
    const before = (await dispatcherOf(kc)) as { closed: boolean };
    kc.clusters[0] = { ...kc.clusters[0]!, caData: CA_B.toString('base64') };
    const after = await dispatcherOf(kc);
    expect(after).not.toBe(before);
    expect(await dispatcherOf(kc)).toBe(after);
    await new Promise((resolve) => setImmediate(resolve));
    expect(before.closed).toBe(true);
  });

  test('another user of the same cluster gets its own pool', async () => {
    const kc = configure(new PooledKubeConfig(), CA_A);
    const operator = await dispatcherOf(kc);
    kc.users.push({ name: 'viewer', token: 'other' });
    kc.contexts.push({ name: 'viewer', cluster: 'test', user: 'viewer' });
    kc.setCurrentContext('viewer');
    expect(await dispatcherOf(kc)).not.toBe(operator);
  });
});

describe('PooledKubeConfig.observeRequests', () => {
  test('reports method, host and status of every API request, and <error> as undefined', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      res.writeHead(req.url?.includes('missing') ? 404 : 200, {
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ kind: 'NamespaceList', items: [], metadata: {} }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const seen: [string, string, number | undefined][] = [];
    kc.observeRequests((method, host, status) => seen.push([method, host, status]));
    const { CoreV1Api } = await import('@kubernetes/client-node');
    const api = kc.makeApiClient(CoreV1Api);
    // The server speaks plain HTTP: the TLS handshake fails, so no status comes back.
    await expect(api.listNamespace()).rejects.toThrow();
    kc.clusters[0] = { ...kc.clusters[0]!, server: `http://127.0.0.1:${port}` };
    const plain = kc.makeApiClient(CoreV1Api);
    await plain.listNamespace();
    await expect(plain.readNamespace({ name: 'missing' })).rejects.toThrow();
    server.closeAllConnections();
    server.close();
    expect(seen).toEqual([
      ['GET', `127.0.0.1:${port}`, undefined],
      ['GET', `127.0.0.1:${port}`, 200],
      ['GET', `127.0.0.1:${port}`, 404],
    ]);
  });
});
