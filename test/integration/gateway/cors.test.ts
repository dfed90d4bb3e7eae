// CORS (the route's `cors`) against a real gateway and upstream: the preflight matrix, the
// headers on actual requests, and what a disallowed origin gets (no CORS headers at all).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  apiRoute,
  send,
  startTestGateway,
  startUpstream,
  type Reply,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const ROUTES = `
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      cors:
        allowOrigins: [https://shop.example.com, https://*.example.org]
        allowMethods: [GET, POST]
        allowHeaders: [content-type, authorization]
        exposeHeaders: [x-request-id]
        maxAge: 10m
        allowCredentials: true
    - name: public
      match: { path: { type: PathPrefix, value: /public } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      cors: { allowOrigins: ['*'] }
    - name: limited
      match: { path: { type: PathPrefix, value: /limited } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      cors: { allowOrigins: [https://shop.example.com], exposeHeaders: [ratelimit] }
      rateLimit: { requestsPerSecond: 1, burst: 2, key: header:x-user-id }
`;

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
];

function corsHeadersOf(reply: Reply): Record<string, unknown> {
  return Object.fromEntries(
    CORS_HEADERS.filter((h) => reply.headers[h] !== undefined).map((h) => [h, reply.headers[h]]),
  );
}

describe('CORS', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    // An upstream with CORS headers of its own, which the gateway's policy replaces.
    orders = await startUpstream('orders', (req, res) => {
      req.resume();
      res.writeHead(200, {
        'access-control-allow-origin': '*',
        'x-request-id': 'from-upstream',
        vary: 'Accept-Encoding',
      });
      res.end('ok');
    });
    gw = await startTestGateway(apiRoute(ROUTES), { legacy: legacy.url, orders: orders.url });
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, orders]) await u.close();
  });

  function preflight(path: string, origin: string): Promise<Reply> {
    return send(`${gw.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
  }

  const ALLOWED_PREFLIGHT = {
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'content-type, authorization',
    'access-control-max-age': '600',
    'access-control-allow-credentials': 'true',
  };

  it.each([
    ['an exact origin', '/api/orders/1', 'https://shop.example.com', 204, ALLOWED_PREFLIGHT],
    ['a wildcard subdomain', '/api/orders', 'https://eu.example.org', 204, ALLOWED_PREFLIGHT],
    [
      'a nested wildcard subdomain',
      '/api/orders',
      'https://a.b.example.org',
      204,
      ALLOWED_PREFLIGHT,
    ],
    ['the wildcard parent domain', '/api/orders', 'https://example.org', 403, {}],
    ['another scheme', '/api/orders', 'http://shop.example.com', 403, {}],
    ['a lookalike suffix', '/api/orders', 'https://evilexample.org', 403, {}],
    ['an origin with a port', '/api/orders', 'https://shop.example.com:8443', 403, {}],
    ['an unlisted origin', '/api/orders', 'https://evil.example', 403, {}],
    ['the null origin', '/api/orders', 'null', 403, {}],
    [
      'any origin on a * route',
      '/public/x',
      'https://anyone.example',
      204,
      { 'access-control-allow-methods': 'GET, HEAD, POST' },
    ],
  ])(
    'answers a preflight from %s itself (%s, %s → %i)',
    async (_what, path, origin, status, expected) => {
      const before = orders.seen.length + legacy.seen.length;
      const reply = await preflight(path, origin);
      expect(reply.status).toBe(status);
      const allowOrigin = status !== 204 ? {} : path === '/public/x' ? '*' : origin;
      expect(corsHeadersOf(reply)).toEqual(
        status === 204 ? { 'access-control-allow-origin': allowOrigin, ...expected } : {},
      );
      expect(reply.headers['x-figway-backend']).toBe('gateway');
      // Preflights never reach an upstream.
      expect(orders.seen.length + legacy.seen.length).toBe(before);
    },
  );

  it('sends an OPTIONS that is no preflight upstream', async () => {
    const before = orders.seen.length;
    const reply = await send(`${gw.url}/api/orders`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com' },
    });
    expect(reply.status).toBe(200);
    expect(orders.seen.length).toBe(before + 1);
  });

  it('adds the CORS headers to an actual request from an allowed origin, replacing the upstream ones', async () => {
    const reply = await send(`${gw.url}/api/orders/1`, {
      headers: { origin: 'https://shop.example.com' },
    });
    expect(reply.status).toBe(200);
    expect(corsHeadersOf(reply)).toEqual({
      'access-control-allow-origin': 'https://shop.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id',
    });
    expect(reply.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('gives a disallowed origin no CORS headers, even those the upstream sent', async () => {
    const reply = await send(`${gw.url}/api/orders/1`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(reply.status).toBe(200);
    expect(corsHeadersOf(reply)).toEqual({});
  });

  it('answers * without Vary on a route open to any origin without credentials', async () => {
    const reply = await send(`${gw.url}/public/1`, { headers: { origin: 'https://a.example' } });
    expect(corsHeadersOf(reply)).toEqual({ 'access-control-allow-origin': '*' });
    expect(reply.headers.vary).toBe('Accept-Encoding');
  });

  it("puts the CORS headers on the gateway's own answers for an allowed origin, and the RateLimit fields on every answer", async () => {
    const call = (origin: string) =>
      send(`${gw.url}/limited/1`, { headers: { origin, 'x-user-id': 'cors-user' } });
    const first = await call('https://shop.example.com');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"limited";q=2;w=2');
    expect(first.headers.ratelimit).toMatch(/^"limited";r=1;t=[12]$/);
    expect((await call('https://shop.example.com')).headers.ratelimit).toMatch(/;r=0;/);
    const refused = await call('https://shop.example.com');
    expect(refused.status).toBe(429);
    expect(refused.headers['x-figway-backend']).toBe('gateway');
    expect(corsHeadersOf(refused)).toEqual({
      'access-control-allow-origin': 'https://shop.example.com',
      'access-control-expose-headers': 'ratelimit',
    });
    expect(refused.headers.vary).toBe('Origin');
    expect(refused.headers.ratelimit).toMatch(/^"limited";r=0;t=[12]$/);
    const stranger = await call('https://evil.example');
    expect(stranger.status).toBe(429);
    expect(corsHeadersOf(stranger)).toEqual({});
  });

  it('leaves routes without cors alone', async () => {
    const reply = await preflight('/elsewhere', 'https://shop.example.com');
    expect(reply.status).toBe(200);
    expect(legacy.seen.at(-1)?.method).toBe('OPTIONS');
  });
});
