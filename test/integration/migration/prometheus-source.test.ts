// The Prometheus observation source against a real Prometheus scraping a real gateway:
// the counts it reads for a step window are the requests this test sent, fallbacks and
// series born during the step included; and when the data goes away it says so.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrometheusSource } from '../../../src/operator/migration/prometheus-source.js';
import type { ObservationQuery } from '../../../src/operator/migration/source.js';
import { freePort, startFigway, waitForHttp, type RunningProcess } from '../../tools/processes.js';
import { prometheusBin, startPrometheus, type RunningPrometheus } from '../../tools/prometheus.js';

const describeWithPrometheus = prometheusBin ? describe : describe.skip;

/** An upstream that answers `status()` (read per request) and names itself. */
async function upstream(status: () => number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status(), { 'content-type': 'text/plain' });
      res.end('ok\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describeWithPrometheus('PrometheusSource on a real Prometheus', () => {
  let work: string;
  let gateway: RunningProcess;
  let prometheus: RunningPrometheus;
  let gatewayPort: number;
  let newStatus = 200;
  const servers: Server[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'figway-prom-source-'));
    const monolith = await upstream(() => 200);
    const orders = await upstream(() => newStatus);
    servers.push(monolith.server, orders.server);
    writeFileSync(
      join(work, 'apiroute.yaml'),
      `apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: shop, namespace: shop }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: orders-api
      match: { path: { value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
      cohort: { header: x-user-id }
      fallbackToMonolith: true
`,
    );
    let adminPort: number;
    [gatewayPort, adminPort] = await Promise.all([freePort(), freePort()]);
    gateway = startFigway(
      'gateway',
      [
        'gateway',
        `--config=${join(work, 'apiroute.yaml')}`,
        '--host=127.0.0.1',
        `--port=${gatewayPort}`,
        `--admin-port=${adminPort}`,
        `--resolve=legacy=http://127.0.0.1:${monolith.port}`,
        `--resolve=orders=http://127.0.0.1:${orders.port}`,
        '--log-level=error',
      ],
      join(work, 'gateway.log'),
    );
    await waitForHttp(gateway, `http://127.0.0.1:${adminPort}/readyz`);
    prometheus = await startPrometheus({
      work,
      // The labels the chart's PodMonitor gives a gateway.
      targets: [
        {
          job: 'figway-gateways',
          target: `127.0.0.1:${adminPort}`,
          labels: { namespace: 'shop', apiroute: 'shop', pod: 'shop-gateway-0' },
        },
      ],
    });
    await prometheus.waitFor(
      'the gateway to be scraped',
      'figway_gateway_route_new_service_weight{route="orders-api"}',
      (r) => r.length === 1,
    );
  }, 120_000);

  afterAll(async () => {
    await prometheus.process.stop();
    await gateway.stop();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    rmSync(work, { recursive: true, force: true });
  });

  const send = async (users: number, offset: number) => {
    const served = { orders: 0, monolith: 0 };
    for (let i = 0; i < users; i += 1) {
      const response = await fetch(`http://127.0.0.1:${gatewayPort}/api/orders/${i}`, {
        headers: { 'x-user-id': `user-${offset + i}` },
        signal: AbortSignal.timeout(10_000),
      });
      await response.text();
      served[response.headers.get('x-figway-backend') === 'orders' ? 'orders' : 'monolith'] += 1;
    }
    return served;
  };

  const window = (fromMs: number, toMs: number): ObservationQuery => ({
    namespace: 'shop',
    apiRoute: 'shop',
    route: 'orders-api',
    newBackends: ['orders'],
    fromMs,
    toMs,
    latency: true,
    shadow: false,
  });

  test('a step window counts exactly the requests sent in it', async () => {
    // Traffic before the step: it must not count.
    await send(40, 0);
    await sleep(2500);
    const from = Date.now();
    await sleep(1500);
    const served = await send(200, 1000);
    // 500s, answered as they are (no retries, no fallback for 500), from a series that
    // did not exist when the step began; then 503s for the same users, which fall back
    // to the monolith: new-service failures served by the monolith.
    newStatus = 500;
    const failed = await send(60, 1000);
    newStatus = 503;
    const fellBack = await send(60, 1000);
    newStatus = 200;
    expect(fellBack).toEqual({ orders: 0, monolith: 60 });
    const fallbacks = failed.orders;
    await sleep(3000);
    const to = Date.now();
    const result = await new PrometheusSource({ url: prometheus.url }).observe(window(from, to));
    if (!result.ok) throw new Error(result.reason);
    const o = result.observations;
    expect(o.newService).toEqual({
      requests: served.orders + failed.orders + fallbacks,
      errors: failed.orders + fallbacks,
    });
    expect(o.monolith).toEqual({
      requests: served.monolith + failed.monolith + 60 - fallbacks,
      errors: 0,
    });
    // The histogram counts every request once, under the backend that finally served it.
    expect(o.latency?.newService.count).toBe(served.orders + failed.orders);
    expect(o.latency?.newService.p99Seconds).toBeGreaterThan(0);
    expect(o.latency?.monolith.count).toBe(served.monolith + failed.monolith + 60);
  }, 60_000);

  test('a gateway that stops being scraped pauses the migration: stale data is not trusted', async () => {
    await gateway.stop();
    await sleep(4000);
    const now = Date.now();
    const result = await new PrometheusSource({ url: prometheus.url, maxAgeMs: 3000 }).observe(
      window(now - 60_000, now),
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(
      /(no series figway_gateway_route_new_service_weight|the gateway is no longer scraped)/,
    );
  }, 30_000);

  test('Prometheus gone: unreachable, said so', async () => {
    await prometheus.process.stop();
    const now = Date.now();
    const result = await new PrometheusSource({ url: prometheus.url }).observe(
      window(now - 60_000, now),
    );
    expect(result).toEqual({
      ok: false,
      reason: `Prometheus at ${prometheus.url} is unreachable: ECONNREFUSED`,
    });
  }, 30_000);
});
