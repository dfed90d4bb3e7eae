// Composition through a real gateway with three real upstreams on loopback (issue 16):
// customers (profile, required), orders (optional) and the monolith (payments, required,
// 300 ms). Each upstream is switched per test between answering, hanging, failing, and
// answering what is not JSON or too much of it; one more route's part goes to a port
// nothing listens on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { close, listen } from '../../../src/common/net.js';
import {
  apiRoute,
  closedPort,
  eventually,
  metricsOf,
  RawClient,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

type Mode = 'ok' | 'hang' | 'fail' | 'html' | 'big' | 'big-chunked' | 'unavailable-once';

const modes: Record<string, Mode> = {};
/** Upstreams whose hanging answer the gateway gave up on (the connection closed). */
const hangsEnded: string[] = [];

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers per the upstream's mode: JSON naming itself and the target it was sent. */
function service(req: IncomingMessage, res: ServerResponse, upstream: Upstream): void {
  req.resume();
  const mode = modes[upstream.name] ?? 'ok';
  const answer = { servedBy: upstream.name, url: req.url };
  switch (mode) {
    case 'hang':
      res.on('close', () => {
        hangsEnded.push(upstream.name);
      });
      return;
    case 'fail':
      json(res, 500, { error: 'boom' });
      return;
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>{}</html>');
      return;
    case 'big':
      json(res, 200, { pad: 'x'.repeat(2 * 1024 * 1024) });
      return;
    case 'big-chunked': {
      // No content-length: the cap must hold while the body streams.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"pad":"');
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        if (res.destroyed || sent > 4 * 1024 * 1024) {
          res.end('"}');
          return;
        }
        sent += chunk.length;
        res.write(chunk, more);
      };
      more();
      return;
    }
    case 'unavailable-once':
      modes[upstream.name] = 'ok';
      json(res, 503, { error: 'busy' });
      return;
    case 'ok':
      json(res, 200, upstream.name === 'orders' ? [answer] : answer);
  }
}

/** One series of figway_gateway_compose_part_requests_total in a scrape. */
function partCount(text: string, route: string, part: string, result: string) {
  return sample(
    text,
    `figway_gateway_compose_part_requests_total{route="${route}",part="${part}",result="${result}"}`,
  );
}

const ROUTES = (refused: number) => `    - name: customers-api
      match: { path: { type: PathPrefix, value: /api/customers } }
      backends: [{ service: customers, port: 80, weight: 100 }]
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
    - name: refused-api
      match: { path: { type: PathPrefix, value: /api/refused } }
      backends: [{ url: 'http://127.0.0.1:${refused}', weight: 100 }]
    - name: customer-overview
      match: { path: { type: Exact, value: '/api/customers/{id}/overview' } }
      timeout: 700ms
      retries: { attempts: 1, conditions: [connect-failure, 503] }
      requestHeaders: { set: { x-from: figway } }
      responseHeaders: { set: { x-composed: 'yes' } }
      cors: { allowOrigins: ['https://shop.example'] }
      compose:
        parts:
          - { name: profile, backend: customers, path: '/customers/{id}' }
          - { name: orders, backend: orders, path: '/orders?customer={id}', optional: true }
          - { name: payments, monolith: true, path: '/legacy/payments/{id}', timeout: 300ms }
    - name: regex-overview
      match: { path: { type: RegularExpression, value: '/v2/(?P<kind>[a-z]+)/(?P<id>[^/]+)/overview' } }
      compose:
        parts:
          - { name: profile, backend: customers, path: '/customers/{id}?kind={kind}' }
    - name: refused-overview
      match: { path: { type: Exact, value: '/api/refused/{id}/overview' } }
      compose:
        parts:
          - { name: account, backend: '127.0.0.1:${refused}', path: '/accounts/{id}' }
`;

describe('compose', () => {
  let customers: Upstream;
  let orders: Upstream;
  let legacy: Upstream;
  let gw: TestGateway;
  let refused = 0;

  beforeAll(async () => {
    customers = await startUpstream('customers', service);
    orders = await startUpstream('orders', service);
    legacy = await startUpstream('legacy', service);
    refused = await closedPort();
    gw = await startTestGateway(apiRoute(ROUTES(refused)), {
      customers: customers.url,
      orders: orders.url,
      legacy: legacy.url,
    });
  });

  afterEach(() => {
    for (const name of Object.keys(modes)) modes[name] = 'ok';
    for (const upstream of [customers, orders, legacy]) upstream.seen.length = 0;
  });

  afterAll(async () => {
    await gw.close();
    await Promise.all([customers.close(), orders.close(), legacy.close()]);
  });

  const overview = (id: string, headers: Record<string, string> = {}) =>
    send(`${gw.url}/api/customers/${id}/overview`, { headers });

  it('answers with each part under its name, the parameter filled in, in one request', async () => {
    const reply = await overview('42');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-figway-backend']).toBe('gateway');
    expect(reply.json()).toEqual({
      profile: { servedBy: 'customers', url: '/customers/42' },
      orders: [{ servedBy: 'orders', url: '/orders?customer=42' }],
      payments: { servedBy: 'legacy', url: '/legacy/payments/42' },
    });
  });

  it('fills the named groups of a RegularExpression match, encoded the same way', async () => {
    const reply = await send(`${gw.url}/v2/gold/a%20b/overview`);
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({
      profile: { servedBy: 'customers', url: '/customers/a%20b?kind=gold' },
    });
  });

  it("shapes the composed answer with the route's response policies: cors and responseHeaders", async () => {
    const ok = await overview('42', { origin: 'https://shop.example' });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(ok.headers['x-composed']).toBe('yes');
    modes.legacy = 'fail';
    const failed = await overview('42', { origin: 'https://shop.example' });
    expect(failed.status).toBe(502);
    expect(failed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(failed.headers['content-type']).toBe('application/json');
  });

  it('sends each part the upstream headers of the request: request id, forwarded, traceparent, the route header policy', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const reply = await overview('7', {
      'x-request-id': 'req-compose-1',
      traceparent,
      'accept-encoding': 'gzip',
      'if-none-match': '"stale"',
      'x-user-id': 'alice',
    });
    expect(reply.status).toBe(200);
    for (const upstream of [customers, orders, legacy]) {
      const seen = upstream.seen[0];
      expect(seen?.method).toBe('GET');
      expect(seen?.headers).toMatchObject({
        'x-request-id': 'req-compose-1',
        traceparent,
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-host': expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        'x-forwarded-proto': 'http',
        'x-from': 'figway',
        'x-user-id': 'alice',
        accept: 'application/json',
        'accept-encoding': 'identity',
        host: new URL(upstream.url).host,
      });
      expect(seen?.headers['if-none-match']).toBeUndefined();
    }
  });

  it('encodes parameters so an attacker cannot add segments, climb, or add query parameters', async () => {
    const climbing = await overview('..%2Fadmin');
    expect(climbing.status).toBe(200);
    expect(customers.seen.map((s) => s.url)).toEqual(['/customers/..%2Fadmin']);
    const smuggled = await overview('1%26admin=true');
    expect(smuggled.status).toBe(200);
    expect(orders.seen.map((s) => s.url)).toEqual([
      '/orders?customer=..%2Fadmin',
      '/orders?customer=1%26admin%3Dtrue',
    ]);
    expect(legacy.seen.map((s) => s.url)).toEqual([
      '/legacy/payments/..%2Fadmin',
      '/legacy/payments/1%26admin%3Dtrue',
    ]);
    // A raw request with a literal question mark and fragment is one segment too.
    const raw = await RawClient.connect(gw.port);
    raw.write(
      'GET /api/customers/a%3Fb%23c/overview HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(await raw.status()).toBe(200);
    raw.destroy();
    expect(customers.seen.at(-1)?.url).toBe('/customers/a%3Fb%23c');
  });

  it('answers a failed optional part with null and lists it in _failed, without waiting past its deadline', async () => {
    modes.orders = 'hang';
    const started = performance.now();
    const reply = await overview('42');
    const took = performance.now() - started;
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({
      profile: { servedBy: 'customers', url: '/customers/42' },
      orders: null,
      payments: { servedBy: 'legacy', url: '/legacy/payments/42' },
      _failed: [{ part: 'orders', reason: 'timeout' }],
    });
    // orders has no timeout of its own: the route's 700 ms is the deadline of the whole.
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(3000);
  });

  it('fails with 502 naming a required part that is slower than its own timeout', async () => {
    modes.legacy = 'hang';
    const started = performance.now();
    const reply = await overview('42', { 'x-request-id': 'req-slow' });
    const took = performance.now() - started;
    expect(reply.status).toBe(502);
    expect(reply.json()).toEqual({
      error: 'part payments failed: no whole answer within 300 ms',
      reason: 'compose-part-failed',
      part: 'payments',
      partReason: 'timeout',
      requestId: 'req-slow',
      route: 'customer-overview',
    });
    // payments' 300 ms decides; the client does not wait for the route's 700 ms.
    expect(took).toBeLessThan(650);
  });

  it('fails with 502 naming a required part that answers 500, and lists an optional one that does', async () => {
    modes.customers = 'fail';
    const required = await overview('42');
    expect(required.status).toBe(502);
    expect(required.json()).toMatchObject({
      part: 'profile',
      partReason: 'status',
      partStatus: 500,
      error: 'part profile failed: answered 500',
    });
    modes.customers = 'ok';
    modes.orders = 'fail';
    const optional = await overview('42');
    expect(optional.status).toBe(200);
    expect(optional.json()).toMatchObject({
      orders: null,
      _failed: [{ part: 'orders', reason: 'status', status: 500 }],
    });
  });

  it('fails with 502 naming a part whose backend refuses connections', async () => {
    const reply = await send(`${gw.url}/api/refused/9/overview`);
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ part: 'account', partReason: 'connect-failure' });
  });

  it('retries a part per the route retries', async () => {
    modes.customers = 'unavailable-once';
    const reply = await overview('42');
    expect(reply.status).toBe(200);
    expect(customers.seen).toHaveLength(2);
    expect(reply.json()).toMatchObject({ profile: { url: '/customers/42' } });
  });

  it.each<[Mode, string]>([
    ['html', 'not-json'],
    ['big', 'too-large'],
    ['big-chunked', 'too-large'],
  ])('fails a part that answers %s as %s', async (mode, reason) => {
    modes.legacy = mode;
    const reply = await overview('42');
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ part: 'payments', partReason: reason });
    modes.legacy = 'ok';
    modes.orders = mode;
    const optional = await overview('42');
    expect(optional.status).toBe(200);
    expect(optional.json()).toMatchObject({ orders: null, _failed: [{ part: 'orders', reason }] });
  });

  it('answers HEAD with the head of the composed answer, and refuses what writes with 405', async () => {
    const head = await send(`${gw.url}/api/customers/5/overview`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(50);
    expect(customers.seen[0]?.method).toBe('GET');
    const post = await send(`${gw.url}/api/customers/5/overview`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(customers.seen).toHaveLength(1);
  });

  it('cancels the parts of a client that goes away, instead of waiting for their deadline', async () => {
    modes.customers = 'hang';
    const raw = await RawClient.connect(gw.port);
    raw.write('GET /api/customers/3/overview HTTP/1.1\r\nhost: x\r\n\r\n');
    await eventually(() => {
      expect(customers.seen).toHaveLength(1);
    });
    hangsEnded.length = 0;
    const left = performance.now();
    raw.destroy();
    await eventually(() => {
      expect(hangsEnded).toEqual(['customers']);
    });
    // Well before the route's 700 ms: the part was cancelled, not timed out.
    expect(performance.now() - left).toBeLessThan(500);
    expect(partCount(await metricsOf(gw), 'customer-overview', 'profile', 'cancelled')).toBe(1);
  });

  it('counts each part by result, with the route and part as labels', async () => {
    modes.orders = 'hang';
    await overview('1');
    const text = await metricsOf(gw);
    expect(partCount(text, 'customer-overview', 'orders', 'timeout')).toBeGreaterThanOrEqual(1);
    expect(partCount(text, 'customer-overview', 'profile', 'ok')).toBeGreaterThanOrEqual(1);
    expect(partCount(text, 'customer-overview', 'account', 'connect-failure')).toBeUndefined();
    expect(partCount(text, 'refused-overview', 'account', 'connect-failure')).toBe(1);
    expect(text).toContain(
      'figway_gateway_compose_part_duration_seconds_count{route="customer-overview",part="payments"}',
    );
  });
  it('follows a reload that renames a part, and drops the series of the part that is gone', async () => {
    await overview('1');
    expect(partCount(await metricsOf(gw), 'customer-overview', 'orders', 'ok')).toBeGreaterThan(0);
    gw.writeConfig(
      apiRoute(ROUTES(refused).replace('name: orders, backend', 'name: history, backend')),
    );
    await eventually(async () => {
      expect(Object.keys((await overview('1')).json())).toEqual(['profile', 'history', 'payments']);
    });
    const text = await metricsOf(gw);
    expect(partCount(text, 'customer-overview', 'orders', 'ok')).toBeUndefined();
    expect(text).not.toContain('part="orders"');
    expect(partCount(text, 'customer-overview', 'history', 'ok')).toBeGreaterThan(0);
  });
});

describe('compose behind auth.jwt', () => {
  let customers: Upstream;
  let gw: TestGateway;
  const jwks = createServer();
  let token = '';
  /** The issuer is slow to serve its keys: the first token waits for them. */
  let jwksDelayMs = 300;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    jwks.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      setTimeout(() => {
        json(res, 200, { keys: [jwk] });
      }, jwksDelayMs);
    });
    const port = await listen(jwks, 0, '127.0.0.1');
    token = await new SignJWT({ sub: 'user-7' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://id.example.com')
      .setAudience('shop')
      .setExpirationTime('5m')
      .sign(privateKey);
    customers = await startUpstream('customers', service);
    gw = await startTestGateway(
      apiRoute(`    - name: customers-api
      match: { path: { type: PathPrefix, value: /api/customers } }
      backends: [{ service: customers, port: 80, weight: 100 }]
    - name: me
      match: { path: { type: Exact, value: '/api/me/{id}' } }
      auth:
        jwt:
          issuer: https://id.example.com
          audiences: [shop]
          jwksUri: http://127.0.0.1:${port}/jwks.json
          claimsToHeaders: [{ claim: sub, header: x-user-id }]
      compose:
        parts:
          - { name: profile, backend: customers, path: '/customers/{id}' }
`),
      { customers: customers.url },
    );
  });

  afterAll(async () => {
    await gw.close();
    await customers.close();
    jwks.closeAllConnections();
    await close(jwks);
  });

  it('sends no part for a client that left while its token waited for the keys', async () => {
    const raw = await RawClient.connect(gw.port);
    raw.write(`GET /api/me/1 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 50));
    raw.destroy();
    await new Promise((r) => setTimeout(r, jwksDelayMs + 200));
    expect(customers.seen).toHaveLength(0);
    jwksDelayMs = 0;
  });

  it('sends no part without a valid token, and sends the claims as headers no client can forge', async () => {
    customers.seen.length = 0;
    expect((await send(`${gw.url}/api/me/1`)).status).toBe(401);
    expect(customers.seen).toHaveLength(0);
    const reply = await send(`${gw.url}/api/me/1`, {
      headers: { authorization: `Bearer ${token}`, 'x-user-id': 'forged' },
    });
    expect(reply.status).toBe(200);
    expect(customers.seen.map((s) => s.headers['x-user-id'])).toEqual(['user-7']);
  });
});
