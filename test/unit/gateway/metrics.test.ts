import { describe, expect, it } from '@jest/globals';
import { metricsTable } from '../../../src/common/metrics.js';
import { GATEWAY_METRICS, GatewayMetrics, ShareCounter } from '../../../src/gateway/metrics.js';

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
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="2xx"} 2',
    );
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="OTHER",code_class="5xx"} 1',
    );
    expect(text).toContain(
      'figway_gateway_requests_total{route="orders-api",backend="orders",method="POST",code_class="aborted"} 1',
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

  it('removes the series of routes and backends that left the config', async () => {
    const m = metrics();
    m.series('old-route', 'orders').request('GET', 200, 0.01);
    m.series('kept', 'gone-backend').upstreamError('timeout');
    m.series('kept', 'orders').request('GET', 200, 0.01);
    m.configApplied('h1', [
      { name: 'old-route', share: new ShareCounter(10), backends: ['orders'] },
      { name: 'kept', share: new ShareCounter(20), backends: ['orders', 'gone-backend'] },
    ]);
    m.configApplied('h2', [
      { name: 'kept', share: new ShareCounter(20), backends: ['orders', 'monolith'] },
    ]);
    const text = await m.registry.metrics();
    expect(text).not.toContain('old-route');
    expect(text).not.toContain('gone-backend');
    expect(text).not.toContain('h1');
    expect(text).toContain('figway_gateway_config_info{hash="h2"} 1');
    expect(text).toContain('route="kept",backend="orders"');
    expect(text).toContain('figway_gateway_route_new_service_weight{route="kept"} 20');
  });

  it('reports the observed new-service share and restarts it when the weight changes', async () => {
    const m = metrics();
    const share = m.shareCounter('r', 30);
    m.configApplied('h1', [{ name: 'r', share, backends: [] }]);
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
});
