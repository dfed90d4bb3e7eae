// Rate limits (issue 14) on a real gateway with real clients: per replica here, and shared
// across two gateways through a real redis-server in rate-limit-shared.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  apiRoute,
  eventually,
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
      rateLimit: { requestsPerSecond: 2, burst: 4, key: "header:x-user-id" }
    - name: free
      match: { path: { type: PathPrefix, value: /free } }
      backends: [{ service: orders, port: 80, weight: 100 }]
`;
const DEFAULTS = `  defaults:
    rateLimit: { requestsPerSecond: 3 }
`;

describe('per-replica rate limits', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    gw = await startTestGateway(apiRoute(ROUTES, DEFAULTS), {
      legacy: legacy.url,
      orders: orders.url,
    });
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, orders]) await u.close();
  });

  async function statuses(path: string, count: number, headers: Record<string, string> = {}) {
    const out: number[] = [];
    for (let i = 0; i < count; i += 1)
      out.push((await send(`${gw.url}${path}`, { headers })).status);
    return out;
  }

  it('allows burst requests per key, then answers 429 with Retry-After and the RateLimit fields, without calling the upstream', async () => {
    const alice = { 'x-user-id': 'alice' };
    expect(await statuses('/api/orders/1', 4, alice)).toEqual([200, 200, 200, 200]);
    const seen = orders.seen.length;
    const refused = await send(`${gw.url}/api/orders/1`, { headers: alice });
    expect(refused.status).toBe(429);
    expect(orders.seen.length).toBe(seen);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(refused.headers['ratelimit-policy']).toBe('"orders";q=4;w=2');
    expect(refused.headers.ratelimit).toBe(`"orders";r=0;t=${retryAfter}`);
    expect(refused.json()).toMatchObject({ reason: 'rate-limited', route: 'orders' });
    // Another key has its own budget; a route without a limit of its own has spec.defaults'.
    expect(await statuses('/api/orders/1', 4, { 'x-user-id': 'bob' })).toEqual([
      200, 200, 200, 200,
    ]);
    expect(await statuses('/free', 4)).toEqual([200, 200, 200, 429]);

    const metrics = await metricsOf(gw);
    expect(
      sample(
        metrics,
        'figway_gateway_rate_limit_decisions_total{route="orders",decision="allowed"}',
      ),
    ).toBe(8);
    expect(
      sample(
        metrics,
        'figway_gateway_rate_limit_decisions_total{route="orders",decision="limited"}',
      ),
    ).toBe(1);
    expect(
      sample(metrics, 'figway_gateway_rate_limit_decisions_total{route="free",decision="limited"}'),
    ).toBe(1);
  });

  it('refills the budget when the window (burst / requestsPerSecond) ends', async () => {
    const carol = { 'x-user-id': 'carol' };
    expect(await statuses('/api/orders/1', 5, carol)).toEqual([200, 200, 200, 200, 429]);
    const refused = await send(`${gw.url}/api/orders/1`, { headers: carol });
    await new Promise((r) => setTimeout(r, Number(refused.headers['retry-after']) * 1000 + 50));
    expect(await statuses('/api/orders/1', 1, carol)).toEqual([200]);
  });

  it('spends the client address budget when the key header is missing', async () => {
    expect(await statuses('/api/orders/2', 5)).toEqual([200, 200, 200, 200, 429]);
  });

  it('limits unmatched monolith traffic by spec.defaults, with a budget of its own', async () => {
    expect(await statuses('/elsewhere', 4)).toEqual([200, 200, 200, 429]);
    expect(legacy.seen.length).toBe(3);
  });

  it('keeps the budgets spent across a reload that leaves the policy as it is', async () => {
    const dave = { 'x-user-id': 'dave' };
    expect(await statuses('/api/orders/1', 4, dave)).toEqual([200, 200, 200, 200]);
    const hash = gw.gateway.hash;
    gw.writeConfig(
      apiRoute(ROUTES, DEFAULTS.replace('3 }', '3 }\n  gateway: { logLevel: debug }')),
    );
    await eventually(() => {
      expect(gw.gateway.hash).not.toBe(hash);
    });
    expect(await statuses('/api/orders/1', 1, dave)).toEqual([429]);
  });
});
