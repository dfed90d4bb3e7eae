import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { metricsTable } from '../../../src/common/metrics.js';
import type { CompiledRoute, RouteTable } from '../../../src/api/index.js';
import {
  GATEWAY_METRICS,
  GatewayMetrics,
  routePolicies,
  ShareCounter,
} from '../../../src/gateway/metrics.js';

function metrics() {
  return new GatewayMetrics({ inFlight: () => 3, websockets: () => 0, defaultMetrics: false });
}

describe('gateway metrics', () => {
  it('exports counters and a cumulative histogram in the Prometheus text format', async () => {
    const m = metrics();
    const series = m.series('orders-api', 'orders');
    series.request('GET', 200, 0.003);
    series.request('GET', 204, 0.2);
    series.request('BREW', 503, 20);
    series.request('POST', 0, 0.0001);
    const text = await m.registry.metrics();
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="2xx",code="200"} 1',
    );
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="2xx",code="204"} 1',
    );
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="OTHER",code_class="5xx",code="503"} 1',
    );
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="POST",code_class="aborted",code="aborted"} 1',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="0.001"} 1',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="0.005"} 2',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="0.25"} 3',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="10"} 3',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="+Inf"} 4',
    );
    expect(text).toContain(
      'figway_gateway_request_duration_seconds_count{route="orders-api",backend="orders"} 4',
    );
    expect(text).toContain('figway_gateway_requests_in_flight 3');
  });

  it('bounds the code label: a registered status as itself, any other as other', async () => {
    const m = metrics();
    const series = m.series('r', 'b');
    for (const status of [418, 299, 599, 100]) series.request('GET', status, 0.01);
    const text = await m.registry.metrics();
    expect(text).toContain('method="GET",code_class="4xx",code="418"} 1');
    expect(text).toContain('method="GET",code_class="2xx",code="other"} 1');
    expect(text).toContain('method="GET",code_class="5xx",code="other"} 1');
    expect(text).toContain('method="GET",code_class="1xx",code="100"} 1');
  });

  it('counts upstream time and bytes apart from the whole request, and the build', async () => {
    const m = metrics();
    const series = m.series('r', 'b');
    series.request('GET', 200, 0.2);
    series.transferred(0.004, 120, 5000);
    series.transferred(undefined, 0, 80);
    const text = await m.registry.metrics();
    expect(text).toContain(
      'figway_gateway_upstream_duration_seconds_bucket{route="r",backend="b",le="0.005"} 1',
    );
    expect(text).toContain(
      'figway_gateway_upstream_duration_seconds_count{route="r",backend="b"} 1',
    );
    expect(text).toContain('figway_gateway_request_bytes_total{route="r",backend="b"} 120');
    expect(text).toContain('figway_gateway_response_bytes_total{route="r",backend="b"} 5080');
    expect(text).toMatch(
      /figway_build_info\{version="\d+\.\d+\.\d+[^"]*",nodejs_version="v\d+[^"]*"\} 1/,
    );
  });

  it('removes the series of routes and backends that left the config', async () => {
    const m = metrics();
    m.series('old-route', 'orders').request('GET', 200, 0.01);
    m.series('kept', 'gone-backend').upstreamError('timeout');
    m.series('kept', 'orders').request('GET', 200, 0.01);
    m.configApplied(
      'h1',
      [
        { name: 'old-route', share: new ShareCounter(10), backends: ['orders'] },
        { name: 'kept', share: new ShareCounter(20), backends: ['orders', 'gone-backend'] },
      ],
      new Map(),
    );
    m.configApplied(
      'h2',
      [{ name: 'kept', share: new ShareCounter(20), backends: ['orders', 'monolith'] }],
      new Map(),
    );
    const text = await m.registry.metrics();
    expect(text).not.toContain('old-route');
    expect(text).not.toContain('gone-backend');
    expect(text).not.toContain('h1');
    expect(text).toContain('figway_gateway_config_info{hash="h2"} 1');
    expect(text).toContain('route="kept",backend="orders"');
    expect(text).toContain('figway_gateway_route_new_service_weight{route="kept"} 20');
  });

  it('drops the auth and rate-limit series of a route that no longer has the policy, or is gone', async () => {
    const m = metrics();
    const count = (route: string, policy: string) => {
      m.authResults.labels({ route, policy, result: 'ok' }).inc();
    };
    count('orders', 'jwt');
    count('orders', 'apiKey');
    count('(unmatched)', 'jwt');
    count('gone', 'jwt');
    m.rateLimitDecisions.labels({ route: 'orders', decision: 'allowed' }).inc();
    m.rateLimitFallbacks.labels({ route: 'orders' }).inc();
    m.rateLimitDecisions.labels({ route: 'cart', decision: 'allowed' }).inc();
    const limit = { requestsPerSecond: 1, burst: 1, key: { type: 'clientIp' }, shared: false };
    const table = {
      routes: [
        // orders keeps its API key and an unshared rate limit, and drops its JWT.
        { name: 'orders', apiKey: { header: 'x-api-key', secretName: 'k' }, rateLimit: limit },
        { name: 'cart' },
      ] as unknown as CompiledRoute[],
    } satisfies Pick<RouteTable, 'routes'>;
    const routes = table.routes.map((r) => ({
      name: r.name,
      share: new ShareCounter(0),
      backends: [],
    }));
    m.configApplied('h1', routes, routePolicies(table));
    const text = await m.registry.metrics();
    expect(text).toContain('route="orders",policy="apiKey",result="ok"');
    expect(text).toContain('figway_gateway_rate_limit_decisions_total{route="orders"');
    expect(text).not.toContain('policy="jwt"');
    expect(text).not.toContain('figway_gateway_rate_limit_fallback_decisions_total{');
    expect(text).not.toContain('figway_gateway_rate_limit_decisions_total{route="cart"');
  });

  it('reports the observed new-service share and restarts it when the weight changes', async () => {
    const m = metrics();
    const share = m.shareCounter('r', 30);
    m.configApplied('h1', [{ name: 'r', share, backends: [] }], new Map());
    share.total = 10;
    share.toNew = 3;
    expect(await m.registry.metrics()).toContain(
      'figway_gateway_route_new_service_share{route="r"} 30',
    );
    expect(m.shareCounter('r', 30)).toBe(share);
    expect(m.shareCounter('r', 40)).not.toBe(share);
  });

  it('documents every metric it registers', async () => {
    const m = new GatewayMetrics({ inFlight: () => 0, websockets: () => 0, defaultMetrics: false });
    const registered = (await m.registry.getMetricsAsJSON()).map((x) => x.name).sort();
    expect(GATEWAY_METRICS.map((d) => d.name).sort()).toEqual(registered);
    expect(metricsTable(GATEWAY_METRICS)).toContain(
      '| `figway_gateway_requests_total` | counter |',
    );
  });

  it('has no gauge named like a counter (promtool rejects *_total gauges, prometheus/client_js#283)', async () => {
    const m = new GatewayMetrics({ inFlight: () => 0, websockets: () => 0 });
    const json = await m.registry.getMetricsAsJSON();
    const bad = json.filter((x) => x.type.toString() === 'gauge' && x.name.endsWith('_total'));
    expect(bad.map((x) => x.name)).toEqual([]);
    // Prefixed like the operator's (figway_operator_process_…), not bare process_*.
    expect(json.some((x) => x.name === 'figway_gateway_process_resident_memory_bytes')).toBe(true);
    expect(json.filter((x) => /^(process|nodejs)_/.test(x.name))).toEqual([]);
  });

  // promtool is the authority on exposition format; run it where it is installed (Debian
  // package prometheus). Without it this test checks nothing, so it says so and passes.
  it('passes promtool check metrics', async () => {
    const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
    if (promtool === undefined) {
      process.stderr.write('promtool not installed: exposition not checked by promtool\n');
      return;
    }
    const m = new GatewayMetrics({ inFlight: () => 1, websockets: () => 0 });
    const s = m.series('orders-api', 'orders');
    s.request('GET', 200, 0.01);
    s.upstreamError('timeout');
    m.configApplied(
      'abc',
      [
        {
          name: 'orders-api',
          share: m.shareCounter('orders-api', 30),
          backends: ['orders', 'monolith'],
        },
      ],
      new Map(),
    );
    const result = spawnSync(promtool, ['check', 'metrics'], {
      input: await m.registry.metrics(),
      encoding: 'utf8',
    });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });
});
