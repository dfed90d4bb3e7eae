// Shared rate limits (issue 14): two gateways spend one budget kept in a real
// redis-server; with Redis stopped each falls back to its own budget (and says so), and
// with Redis back the budget is shared again.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import {
  apiRoute,
  eventually,
  LogLines,
  spawnCli,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';
import { RedisServer } from './redis-server.js';

const BURST = 50;
// Longer than the gateway's default: the test machine is shared and busy, and a command
// that times out turns a shared decision into a per-replica one.
const COMMAND_TIMEOUT_MS = 1000;
// A 5 s window: the requests of one check all land in one window.
const ROUTES = `
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      rateLimit: { requestsPerSecond: 10, burst: ${BURST}, key: "header:x-user-id", shared: true }
`;

describe('shared rate limits across two gateways', () => {
  let redis: RedisServer;
  let legacy: Upstream;
  let orders: Upstream;
  const gateways: TestGateway[] = [];
  const logs = [new LogLines(), new LogLines()];

  beforeAll(async () => {
    redis = await RedisServer.start();
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    for (const logStream of logs) {
      gateways.push(
        await startTestGateway(
          apiRoute(ROUTES),
          { legacy: legacy.url, orders: orders.url },
          { logStream, redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS } },
        ),
      );
    }
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    for (const u of [legacy, orders]) await u.close();
    await redis.stop();
  });

  /** Sends `count` requests for `user`, alternating between the gateways, in 10 parallel lanes. */
  async function spend(user: string, count: number) {
    const allowed = [0, 0];
    let slowestMs = 0;
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next;
        next += 1;
        const gw = gateways[i % 2] as TestGateway;
        const start = performance.now();
        const reply = await send(`${gw.url}/api/orders/1`, { headers: { 'x-user-id': user } });
        slowestMs = Math.max(slowestMs, performance.now() - start);
        expect([200, 429]).toContain(reply.status);
        if (reply.status === 200) allowed[i % 2] = (allowed[i % 2] as number) + 1;
      }
    };
    await Promise.all(Array.from({ length: 10 }, lane));
    return { total: (allowed[0] as number) + (allowed[1] as number), allowed, slowestMs };
  }

  async function redisUp(gw: TestGateway): Promise<number | undefined> {
    return sample(await metricsOf(gw), 'figway_gateway_rate_limit_redis_up');
  }

  it('holds one budget for both gateways', async () => {
    // Until its connection is up a gateway limits per replica (and counts it): wait for it.
    for (const gw of gateways) {
      await eventually(async () => {
        expect(await redisUp(gw)).toBe(1);
      });
    }
    const { total, allowed } = await spend('alice', 3 * BURST);
    expect(total).toBe(BURST);
    // Both gateways served part of it: the budget is one, not one each.
    expect(allowed[0]).toBeGreaterThan(0);
    expect(allowed[1]).toBeGreaterThan(0);
    for (const gw of gateways) {
      const metrics = await metricsOf(gw);
      expect(sample(metrics, 'figway_gateway_rate_limit_redis_up')).toBe(1);
      expect(
        sample(metrics, 'figway_gateway_rate_limit_fallback_decisions_total{route="orders"}'),
      ).toBe(0);
    }
  });

  it('falls back to per-replica budgets when Redis stops, counted, logged and never slow', async () => {
    await redis.stop();
    const { total, allowed, slowestMs } = await spend('bob', 4 * BURST);
    // Each replica allows the whole budget on its own: 2 × burst in all, never unlimited.
    expect(allowed).toEqual([BURST, BURST]);
    expect(total).toBe(2 * BURST);
    expect(slowestMs).toBeLessThan(500);
    for (const [i, gw] of gateways.entries()) {
      const metrics = await metricsOf(gw);
      expect(sample(metrics, 'figway_gateway_rate_limit_redis_up')).toBe(0);
      expect(
        sample(metrics, 'figway_gateway_rate_limit_fallback_decisions_total{route="orders"}'),
      ).toBeGreaterThanOrEqual(2 * BURST);
      expect(
        logs[i]?.lines.filter(
          (l) => l.level === 'warn' && String(l.message).startsWith('Redis unreachable'),
        ),
      ).toHaveLength(1);
    }
  });

  it('shares the budget again once Redis is back', async () => {
    await redis.restart();
    for (const gw of gateways) {
      await eventually(async () => {
        expect(await redisUp(gw)).toBe(1);
      }, 10_000);
    }
    const { total } = await spend('carol', 3 * BURST);
    expect(total).toBe(BURST);
    for (const log of logs) {
      expect(log.lines.some((l) => String(l.message).startsWith('Redis reachable again'))).toBe(
        true,
      );
    }
  }, 20_000);

  it('answers within the command timeout when Redis stalls, from the per-replica budget', async () => {
    redis.pause();
    try {
      const { allowed, slowestMs } = await spend('dave', 4 * BURST);
      expect(allowed).toEqual([BURST, BURST]);
      // One command timeout, then the per-replica budget answers; the rest is the machine.
      expect(slowestMs).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS);
      expect(slowestMs).toBeLessThan(2.5 * COMMAND_TIMEOUT_MS);
    } finally {
      redis.resume();
    }
    for (const gw of gateways) expect(await redisUp(gw)).toBe(0);
  });
});

describe('figway gateway --redis-url', () => {
  it.each([
    ['ftp://127.0.0.1:6379', '--redis-url must be redis://host:port or rediss://host:port'],
    ['redis://:secret@127.0.0.1:6379', 'must not hold a password: set FIGWAY_REDIS_PASSWORD'],
  ])('refuses %s', async (url, message) => {
    const cli = spawnCli([
      'gateway',
      '--config',
      'examples/orders-first-path.yaml',
      '--redis-url',
      url,
    ]);
    expect(await cli.exited).toBe(2);
    expect(cli.stdout()).toContain(message);
  });
});
