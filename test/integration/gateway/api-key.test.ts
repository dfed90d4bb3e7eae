// auth.apiKey on a real gateway with real upstreams: keys from --api-keys-file (as a local
// run gets them), the consumer upstream and in the access log, never the key, refusals
// counted, spec.defaults guarding unmatched traffic. The same keys from a real Secret are
// tested on the control plane in test/integration/operator/api-keys.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  apiRoute,
  LogLines,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const ROUTES = `
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth: { apiKey: { secretRef: { name: orders-keys } } }
    - name: open
      match: { path: { type: PathPrefix, value: /open } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth: { apiKey: { header: x-partner-key, secretRef: { name: partner-keys } } }
`;

const KEYS = { 'orders-keys': { alice: 'alice-key', bob: 'bob-key' } };

describe('auth.apiKey', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;
  const lines = new LogLines();

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    gw = await startTestGateway(
      apiRoute(
        ROUTES,
        `  gateway: { accessLog: { sampleRatio: 1 } }\n  defaults: { auth: { apiKey: { secretRef: { name: orders-keys } } } }\n`,
      ),
      { legacy: legacy.url, orders: orders.url },
      { secrets: KEYS, accessLogStream: lines },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, orders]) await u.close();
  });

  it('passes a known key: the consumer goes upstream, replacing a client-sent one; the key does not', async () => {
    const reply = await send(`${gw.url}/api/orders/1`, {
      headers: { 'x-api-key': 'bob-key', 'x-figway-consumer': 'alice', 'x-request-id': 'bob-1' },
    });
    expect(reply.status).toBe(200);
    const seen = orders.seen.at(-1)?.headers ?? {};
    expect(seen['x-figway-consumer']).toBe('bob');
    expect(seen['x-api-key']).toBeUndefined();
    const line = lines.lines.find((l) => l.requestId === 'bob-1');
    expect(line).toMatchObject({ consumer: 'bob', status: 200, route: 'orders' });
    expect(JSON.stringify(lines.lines)).not.toContain('bob-key');
  });

  it.each([
    ['no key', {}, 'api-key-missing'],
    ['an unknown key', { 'x-api-key': 'mallory-key' }, 'api-key-unknown'],
    ['a key in another header', { authorization: 'alice-key' }, 'api-key-missing'],
  ])('refuses %s with 401 and a body naming the reason', async (_what, headers, reason) => {
    const before = orders.seen.length;
    const reply = await send(`${gw.url}/api/orders/1`, { headers });
    expect(reply.status).toBe(401);
    expect(reply.json()).toMatchObject({ reason, error: expect.stringContaining('x-api-key') });
    expect(orders.seen.length).toBe(before);
  });

  it('guards unmatched traffic with spec.defaults', async () => {
    expect((await send(`${gw.url}/legacy/page`)).status).toBe(401);
    const reply = await send(`${gw.url}/legacy/page`, { headers: { 'x-api-key': 'alice-key' } });
    expect(reply.status).toBe(200);
    expect(legacy.seen.at(-1)?.headers['x-figway-consumer']).toBe('alice');
  });

  it('answers 503 on a route whose Secret it has no keys for, and counts every decision', async () => {
    const reply = await send(`${gw.url}/open/1`, { headers: { 'x-partner-key': 'alice-key' } });
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ reason: 'api-keys-unavailable' });
    const metrics = await metricsOf(gw);
    const count = (route: string, result: string) =>
      sample(
        metrics,
        `figway_gateway_auth_results_total{route="${route}",policy="apiKey",result="${result}"}`,
      );
    expect(count('orders', 'ok')).toBe(1);
    expect(count('orders', 'missing')).toBe(2);
    expect(count('orders', 'unknown')).toBe(1);
    expect(count('open', 'unavailable')).toBe(1);
    expect(count('(unmatched)', 'ok')).toBe(1);
  });
});
