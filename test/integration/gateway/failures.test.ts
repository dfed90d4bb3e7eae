import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import {
  apiRoute,
  closedPort,
  echo,
  eventually,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

describe('upstream failures', () => {
  let legacy: Upstream;
  let flaky: Upstream;
  let slow: Upstream;
  let hanging: Upstream;
  let gw: TestGateway;
  /** Status the flaky upstream answers next; it then serves 200. */
  const flakyPlan: number[] = [];
  const hangingClosed: string[] = [];

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    flaky = await startUpstream('flaky', (req, res, up) => {
      const status = flakyPlan.shift();
      if (status !== undefined) {
        req.resume();
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`planned ${status}`);
        return;
      }
      echo(req, res, up);
    });
    slow = await startUpstream('slow', (req, res) => {
      req.resume();
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => {
        clearTimeout(timer);
      });
    });
    hanging = await startUpstream('hanging', (req, res) => {
      // Never answers: the test watches the upstream connection close when the client leaves.
      res.on('close', () => {
        if (!res.writableFinished) hangingClosed.push(req.url ?? '');
      });
      req.resume();
    });
    const down = await closedPort();
    const routes = `
    - name: refused
      match: { path: { type: PathPrefix, value: /refused } }
      backends: [{ service: down, port: 80, weight: 100 }]
    - name: refused-fallback
      match: { path: { type: PathPrefix, value: /fallback } }
      backends: [{ service: down, port: 80, weight: 100 }, { monolith: true, weight: 0 }]
      fallbackToMonolith: true
    - name: slow
      match: { path: { type: PathPrefix, value: /slow } }
      backends: [{ service: slow, port: 80, weight: 100 }]
      timeout: 300ms
    - name: slow-fallback
      match: { path: { type: PathPrefix, value: /slow-fallback } }
      backends: [{ service: slow, port: 80, weight: 100 }, { monolith: true, weight: 0 }]
      timeout: 300ms
      fallbackToMonolith: true
    - name: unresolvable
      match: { path: { type: PathPrefix, value: /nowhere } }
      backends: [{ url: "http://figway-test.invalid:80", weight: 100 }]
    - name: flaky
      match: { path: { type: PathPrefix, value: /flaky } }
      backends: [{ service: flaky, port: 80, weight: 100 }]
      retries: { attempts: 2, conditions: ['503'] }
    - name: hanging
      match: { path: { type: PathPrefix, value: /hang } }
      backends: [{ service: hanging, port: 80, weight: 100 }]
`;
    gw = await startTestGateway(apiRoute(routes), {
      legacy: legacy.url,
      down: `http://127.0.0.1:${down}`,
      slow: slow.url,
      flaky: flaky.url,
      hanging: hanging.url,
    });
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, flaky, slow, hanging]) await u.close();
  });

  it('answers 502 with a JSON body carrying the request id and reason when the backend refuses connections', async () => {
    const reply = await send(`${gw.url}/refused`, { headers: { 'x-request-id': 'r-502' } });
    expect(reply.status).toBe(502);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.json()).toMatchObject({
      requestId: 'r-502',
      reason: 'connect-failure',
      route: 'refused',
      backend: 'down',
    });
    expect(reply.headers['x-request-id']).toBe('r-502');
  });

  it('answers 504 when the upstream does not answer within the route timeout', async () => {
    const started = Date.now();
    const reply = await send(`${gw.url}/slow`, { headers: { 'x-request-id': 'r-504' } });
    expect(reply.status).toBe(504);
    expect(reply.json()).toMatchObject({ requestId: 'r-504', reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('answers 503 when the backend name does not resolve (no backend available)', async () => {
    const reply = await send(`${gw.url}/nowhere`);
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ reason: 'no-backend' });
  });

  it('falls back to the monolith for an idempotent request whose new-service attempt failed, and counts it', async () => {
    const reply = await send(`${gw.url}/fallback/items`);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-figway-backend']).toBe('monolith');
    expect(reply.json()).toMatchObject({ servedBy: 'legacy', url: '/fallback/items' });
    const timedOut = await send(`${gw.url}/slow-fallback`);
    expect(timedOut.status).toBe(200);
    expect(timedOut.headers['x-figway-backend']).toBe('monolith');
    const text = await metricsOf(gw);
    expect(
      sample(text, 'figway_gateway_fallbacks_total{route="refused-fallback",backend="down"}'),
    ).toBe(1);
    expect(
      sample(text, 'figway_gateway_fallbacks_total{route="slow-fallback",backend="slow"}'),
    ).toBe(1);
    expect(
      sample(
        text,
        'figway_gateway_upstream_errors_total{route="refused-fallback",backend="down",reason="connect-failure"}',
      ),
    ).toBe(1);
  });

  it('never falls back for a non-idempotent request', async () => {
    const reply = await send(`${gw.url}/fallback/items`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(reply.status).toBe(502);
    expect(reply.headers['x-figway-backend']).toBe('down');
  });

  it('retries an idempotent request on a configured condition', async () => {
    flakyPlan.push(503, 503);
    const reply = await send(`${gw.url}/flaky/a`);
    expect(reply.status).toBe(200);
    expect(flaky.seen.filter((s) => s.url === '/flaky/a')).toHaveLength(3);
    expect(
      sample(await metricsOf(gw), 'figway_gateway_retries_total{route="flaky",backend="flaky"}'),
    ).toBe(2);
  });

  it('gives up after the configured attempts and passes the last answer on', async () => {
    flakyPlan.push(503, 503, 503);
    const reply = await send(`${gw.url}/flaky/b`);
    expect(reply.status).toBe(503);
    expect(reply.body).toBe('planned 503');
    expect(flaky.seen.filter((s) => s.url === '/flaky/b')).toHaveLength(3);
  });

  it('does not retry a POST', async () => {
    flakyPlan.push(503);
    const reply = await send(`${gw.url}/flaky/c`, { method: 'POST', body: 'x' });
    expect(reply.status).toBe(503);
    expect(flaky.seen.filter((s) => s.url === '/flaky/c')).toHaveLength(1);
  });

  it('does not retry on a condition that is not configured', async () => {
    flakyPlan.push(502);
    const reply = await send(`${gw.url}/flaky/d`);
    expect(reply.status).toBe(502);
    expect(flaky.seen.filter((s) => s.url === '/flaky/d')).toHaveLength(1);
  });

  it('cancels the upstream request when the client goes away', async () => {
    const path = `/hang/${Math.random()}`;
    const client = request(`${gw.url}${path}`, { agent: false });
    client.on('error', () => undefined);
    client.end();
    await eventually(() => {
      expect(hanging.seen.some((s) => s.url === path)).toBe(true);
    });
    expect(hangingClosed).not.toContain(path);
    client.destroy();
    await eventually(() => {
      expect(hangingClosed).toContain(path);
    }, 2000);
    await eventually(async () => {
      const text = await metricsOf(gw);
      expect(
        sample(
          text,
          'figway_gateway_requests_total{route="hanging",backend="hanging",method="GET",code_class="aborted",code="aborted"}',
        ),
      ).toBe(1);
      expect(sample(text, 'figway_gateway_requests_in_flight')).toBe(0);
      // Regression: cancelling reported the attempt's end synchronously, and the gateway
      // then counted an upstream error and "answered" the departed client with a 502.
      expect(text).not.toContain('reason="cancelled"');
    });
  });
});
