import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  apiRoute,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const ROUTES = apiRoute(`
    - name: orders-exact
      match: { path: { type: Exact, value: /api/orders/special } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      responseHeaders: { set: { x-served-by: figway }, remove: [x-upstream] }
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends:
        - { service: orders, port: 80, weight: 30 }
        - { monolith: true, weight: 70 }
      cohort: { header: x-user-id }
      overrideHeader: x-figway-force
      rewrite: { pathPrefix: /v2/orders }
      requestHeaders: { set: { x-from: figway }, remove: [cookie] }
    - name: catalog
      match:
        path: { type: RegularExpression, value: '/api/products/[0-9]+' }
        methods: [GET]
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
      cohort: { cookie: session }
`);

describe('routing through the gateway', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    gw = await startTestGateway(ROUTES, { legacy: legacy.url, orders: orders.url });
  });
  afterAll(async () => {
    await gw.close();
    await legacy.close();
    await orders.close();
  });

  it('sends unmatched requests to the monolith, path and query untouched', async () => {
    const reply = await send(`${gw.url}/checkout/cart?step=2`);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-figway-backend']).toBe('monolith');
    expect(reply.json()).toMatchObject({ servedBy: 'legacy', url: '/checkout/cart?step=2' });
  });

  it('routes by precedence: Exact beats the PathPrefix that also matches', async () => {
    const reply = await send(`${gw.url}/api/orders/special`, {
      headers: { 'x-figway-force': 'monolith' },
    });
    expect(reply.json()).toMatchObject({ servedBy: 'orders', url: '/api/orders/special' });
    expect(reply.headers['x-served-by']).toBe('figway');
    expect(reply.headers['x-upstream']).toBeUndefined();
  });

  it('rewrites the path prefix and applies request header modifiers', async () => {
    const reply = await send(`${gw.url}/api/orders/42?full=1`, {
      headers: { 'x-figway-force': 'new', cookie: 'session=s1' },
    });
    const body = reply.json<{ url: string; headers: Record<string, string> }>();
    expect(reply.headers['x-figway-backend']).toBe('orders');
    expect(body.url).toBe('/v2/orders/42?full=1');
    expect(body.headers['x-from']).toBe('figway');
    expect(body.headers.cookie).toBeUndefined();
  });

  it('sets forwarding headers, propagates x-request-id and traceparent, strips hop-by-hop headers both ways', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const reply = await send(`${gw.url}/somewhere`, {
      headers: {
        'x-request-id': 'req-abc',
        traceparent,
        connection: 'keep-alive, x-private',
        'x-private': 'no',
        host: 'shop.example',
      },
    });
    const headers = reply.json<{ headers: Record<string, string> }>().headers;
    expect(headers['x-request-id']).toBe('req-abc');
    expect(headers.traceparent).toBe(traceparent);
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe('shop.example');
    expect(headers.host).toBe(`127.0.0.1:${legacy.port}`);
    expect(headers['x-private']).toBeUndefined();
    expect(reply.headers['x-request-id']).toBe('req-abc');
    expect(reply.headers['x-hop']).toBeUndefined();
  });

  it('generates a request id when the client sends none', async () => {
    const reply = await send(`${gw.url}/x`);
    const sent = reply.json<{ headers: Record<string, string> }>().headers['x-request-id'];
    expect(sent).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.headers['x-request-id']).toBe(sent);
  });

  it('splits by cohort within a few points of the weight, and each user stays on one side', async () => {
    let toNew = 0;
    const users = 1000;
    for (let i = 0; i < users; i += 1) {
      const reply = await send(`${gw.url}/api/orders`, { headers: { 'x-user-id': `user-${i}` } });
      if (reply.headers['x-figway-backend'] === 'orders') toNew += 1;
    }
    expect(Math.abs((100 * toNew) / users - 30)).toBeLessThanOrEqual(5);
    const sides = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const reply = await send(`${gw.url}/api/orders`, { headers: { 'x-user-id': 'user-7' } });
      sides.add(String(reply.headers['x-figway-backend']));
    }
    expect(sides.size).toBe(1);
  }, 30_000);

  it('splits by cookie cohort on regular-expression routes, and only for the listed methods', async () => {
    const sides = new Set<string>();
    for (let i = 0; i < 10; i += 1) {
      const reply = await send(`${gw.url}/api/products/7`, {
        headers: { cookie: 'a=1; session=sticky-1' },
      });
      sides.add(String(reply.headers['x-figway-backend']));
    }
    expect(sides.size).toBe(1);
    const del = await send(`${gw.url}/api/products/7`, { method: 'DELETE' });
    expect(del.headers['x-figway-backend']).toBe('monolith');
  });

  it('lets a tester force a side with the override header', async () => {
    for (const [force, side] of [
      ['new', 'orders'],
      ['monolith', 'monolith'],
      ['orders', 'orders'],
    ]) {
      const reply = await send(`${gw.url}/api/orders`, {
        headers: { 'x-figway-force': force as string, 'x-user-id': 'u' },
      });
      expect(reply.headers['x-figway-backend']).toBe(side);
    }
  });

  it('streams request bodies through, POST included', async () => {
    const body = JSON.stringify({ item: 'book', qty: 2 });
    const reply = await send(`${gw.url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-figway-force': 'new' },
      body,
    });
    expect(reply.status).toBe(200);
    const seen = orders.seen.at(-1);
    expect(seen?.method).toBe('POST');
    expect(seen?.headers['content-length']).toBe(String(body.length));
  });

  it('counts requests by route, backend, method and status class, never by path', async () => {
    const text = await metricsOf(gw);
    expect(
      sample(
        text,
        'figway_gateway_requests_total{route="(unmatched)",backend="monolith",method="GET",code_class="2xx",code="200"}',
      ),
    ).toBeGreaterThan(0);
    // The upstream's share of the time, and the bytes, beside the whole request's.
    const unmatched = '{route="(unmatched)",backend="monolith"}';
    expect(
      sample(text, `figway_gateway_upstream_duration_seconds_count${unmatched}`),
    ).toBeGreaterThan(0);
    expect(
      sample(text, `figway_gateway_upstream_duration_seconds_sum${unmatched}`),
    ).toBeLessThanOrEqual(
      sample(text, `figway_gateway_request_duration_seconds_sum${unmatched}`) ?? 0,
    );
    expect(sample(text, `figway_gateway_response_bytes_total${unmatched}`)).toBeGreaterThan(0);
    expect(sample(text, 'figway_gateway_route_new_service_weight{route="orders-api"}')).toBe(30);
    expect(text).not.toContain('/api/orders');
    expect(text).not.toContain('checkout');
  });
});
