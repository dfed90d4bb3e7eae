// Access logs a user turns on in the ApiRoute (spec.gateway.accessLog), read off the lines
// a real gateway writes for real requests. Before issue 11 there were none, and the query
// string went into logs as sent (?token=…).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  apiRoute,
  closedPort,
  eventually,
  LogLines,
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
    - name: broken
      match: { path: { type: PathPrefix, value: /broken } }
      backends: [{ service: down, port: 80, weight: 100 }]
`;

describe('access logs', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let down: number;
  const gateways: TestGateway[] = [];

  /** A gateway with `accessLog` as its spec.gateway.accessLog, and its access log lines. */
  async function gatewayWith(accessLog: string): Promise<{ gw: TestGateway; lines: LogLines }> {
    const lines = new LogLines();
    const gw = await startTestGateway(
      apiRoute(ROUTES, `  gateway:\n    accessLog: ${accessLog}\n`),
      { legacy: legacy.url, orders: orders.url, down: `http://127.0.0.1:${down}` },
      { accessLogStream: lines },
    );
    gateways.push(gw);
    return { gw, lines };
  }

  function requestLines(lines: LogLines): Record<string, unknown>[] {
    return lines.lines.filter((l) => l.message === 'request');
  }

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    down = await closedPort();
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    for (const u of [legacy, orders]) await u.close();
  });

  it('logs every request with sampleRatio 1, with its fields and the query values redacted', async () => {
    const { gw, lines } = await gatewayWith('{ sampleRatio: 1 }');
    // Large enough to go upstream in several chunks.
    const body = 'q'.repeat(200_000);
    const reply = await send(`${gw.url}/api/orders/7?token=s3cret&page=2`, {
      method: 'POST',
      body,
      headers: {
        host: 'shop.example',
        'x-request-id': 'log-1',
        'content-type': 'application/octet-stream',
      },
    });
    expect(reply.status).toBe(200);
    await eventually(() => {
      expect(requestLines(lines)).toHaveLength(1);
    }, 2000);
    const line = requestLines(lines)[0] as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'info',
      requestId: 'log-1',
      client: '127.0.0.1',
      host: 'shop.example',
      method: 'POST',
      path: '/api/orders/7',
      query: 'token=<redacted>&page=<redacted>',
      route: 'orders',
      backend: 'orders',
      status: 200,
      bytesIn: body.length,
    });
    expect(line.bytesOut).toBeGreaterThan(reply.body.length);
    expect(typeof line.upstreamMs).toBe('number');
    expect(line.totalMs).toBeGreaterThanOrEqual(line.upstreamMs as number);
    expect(JSON.stringify(lines.lines)).not.toContain('s3cret');
  });

  it('logs only the failed request with sampleRatio 0 and alwaysLogErrors', async () => {
    const { gw, lines } = await gatewayWith('{ sampleRatio: 0, alwaysLogErrors: true }');
    expect(
      (await send(`${gw.url}/api/orders/1`, { headers: { 'x-request-id': 'ok' } })).status,
    ).toBe(200);
    const failed = await send(`${gw.url}/broken/1`, { headers: { 'x-request-id': 'failed' } });
    expect(failed.status).toBe(502);
    await eventually(() => {
      expect(requestLines(lines)).toHaveLength(1);
    }, 2000);
    // Lines are written in the order requests end: had the 200 been logged, it came first.
    expect(requestLines(lines)[0]).toMatchObject({
      requestId: 'failed',
      route: 'broken',
      backend: 'down',
      status: 502,
      failure: 'connect-failure',
    });
  });

  it('logs the query as sent with redactQuery false', async () => {
    const { gw, lines } = await gatewayWith('{ sampleRatio: 1, redactQuery: false }');
    expect((await send(`${gw.url}/api/orders/2?token=s3cret&page=2`)).status).toBe(200);
    await eventually(() => {
      expect(requestLines(lines)).toHaveLength(1);
    }, 2000);
    expect(requestLines(lines)[0]).toMatchObject({ query: 'token=s3cret&page=2' });
  });
});
