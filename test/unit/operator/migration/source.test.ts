// The observation sources: the PromQL they send, how they turn gateway series into step
// counts (a fallback is a new-service failure), and every reason not to trust the data.
// A real Prometheus answers the same queries in test/integration/migration.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GatewayMetricsSource,
  parseExposition,
} from '../../../../src/operator/migration/gateway-metrics-source.js';
import {
  PrometheusSource,
  promSelector,
  windowIncrease,
} from '../../../../src/operator/migration/prometheus-source.js';
import type { ObservationQuery } from '../../../../src/operator/migration/source.js';

const T0 = Date.parse('2025-06-01T10:00:00Z');

function query(over: Partial<ObservationQuery> = {}): ObservationQuery {
  return {
    namespace: 'shop',
    apiRoute: 'orders',
    route: 'orders-api',
    newBackends: ['orders'],
    fromMs: T0,
    toMs: T0 + 60_000,
    latency: false,
    shadow: false,
    ...over,
  };
}

/** An HTTP server on loopback whose answer the test sets; records what it was asked. */
async function scripted(): Promise<{
  url: string;
  server: Server;
  answer: (body: (form: URLSearchParams) => { status?: number; body: string }) => void;
  asked: URLSearchParams[];
}> {
  let handler: (form: URLSearchParams) => { status?: number; body: string } = () => ({ body: '' });
  const asked: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body || (req.url?.split('?')[1] ?? ''));
      asked.push(form);
      const out = handler(form);
      res.writeHead(out.status ?? 200, { 'content-type': 'text/plain' });
      res.end(out.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    answer: (h) => (handler = h),
    asked,
  };
}

describe('parseExposition', () => {
  test('reads names, labels (escapes included) and values, skipping comments', () => {
    const text = [
      '# HELP figway_gateway_requests_total Requests answered',
      '# TYPE figway_gateway_requests_total counter',
      'figway_gateway_requests_total{route="a",backend="orders",method="GET",code_class="2xx"} 12',
      'figway_gateway_request_duration_seconds_bucket{route="a",backend="orders",le="+Inf"} 12',
      'odd_metric{path="say \\"hi\\"\\\\"} 1.5e3 1717236000000',
      'up 1',
      'not a sample line',
    ].join('\n');
    expect(parseExposition(text)).toEqual([
      {
        name: 'figway_gateway_requests_total',
        labels: { route: 'a', backend: 'orders', method: 'GET', code_class: '2xx' },
        value: 12,
      },
      {
        name: 'figway_gateway_request_duration_seconds_bucket',
        labels: { route: 'a', backend: 'orders', le: '+Inf' },
        value: 12,
      },
      { name: 'odd_metric', labels: { path: 'say "hi"\\' }, value: 1500 },
      { name: 'up', labels: {}, value: 1 },
    ]);
  });
});

describe('the PromQL of the Prometheus source', () => {
  test('selects the route of the ApiRoute by the labels the PodMonitor gives', () => {
    expect(
      promSelector(
        'figway_gateway_requests_total',
        { namespace: 'shop', apiRoute: 'orders' },
        {
          route: { equals: 'orders-api' },
          backend: { oneOf: ['orders', 'orders.example.com:8443'] },
          code_class: { notEquals: 'aborted' },
        },
      ),
    ).toBe(
      'figway_gateway_requests_total{namespace="shop",apiroute="orders",route="orders-api",backend=~"orders|orders\\\\.example\\\\.com:8443",code_class!="aborted"}',
    );
  });

  test('counts the difference over the step, and series born or restarted in it whole', () => {
    expect(windowIncrease('m{a="b"}', 90)).toBe(
      '((m{a="b"} - m{a="b"} offset 90s) >= 0) or m{a="b"}',
    );
  });
});

describe('PrometheusSource: never trusts what it cannot see', () => {
  let prom: Awaited<ReturnType<typeof scripted>>;
  beforeAll(async () => {
    prom = await scripted();
  });
  afterAll(() => {
    prom.server.closeAllConnections();
    prom.server.close();
  });

  const vector = (result: unknown[]) =>
    JSON.stringify({ status: 'success', data: { resultType: 'vector', result } });
  const fresh = (form: URLSearchParams) =>
    form.get('query')?.startsWith('timestamp(')
      ? vector([{ metric: { pod: 'gw-0' }, value: [0, String((T0 + 55_000) / 1000)] }])
      : undefined;

  test('reads the counts at the end of the window, over its whole length', async () => {
    prom.asked.length = 0;
    prom.answer((form) => {
      const q = form.get('query') ?? '';
      const served = fresh(form);
      if (served) return { body: served };
      const n = q.includes('fallbacks')
        ? 2
        : q.includes('backend="monolith"')
          ? q.includes('code_class="5xx"')
            ? 4
            : 400
          : q.includes('code_class="5xx"')
            ? 5
            : 100;
      return { body: vector([{ metric: {}, value: [0, `${n}.4`] }]) };
    });
    const result = await new PrometheusSource({ url: prom.url }).observe(query());
    expect(result).toEqual({
      ok: true,
      observations: {
        // 100 answered + 2 that fell back; 5 + 2 failed. The monolith served those 2.
        newService: { requests: 102, errors: 7 },
        monolith: { requests: 398, errors: 4 },
      },
    });
    expect(new Set(prom.asked.map((f) => f.get('time')))).toEqual(new Set(['1748772060.000']));
    expect(
      prom.asked.every((f) => !f.get('query')?.includes('[') || f.get('query')?.includes('[60s]')),
    ).toBe(true);
  });

  test.each([
    [
      'no series for the route',
      () => ({ body: vector([]) }),
      /^Prometheus has no series figway_gateway_route_new_service_weight\{namespace="shop",apiroute="orders",route="orders-api"\}: is the gateway scraped/,
    ],
    [
      'a stale newest sample',
      () => ({ body: vector([{ metric: {}, value: [0, String((T0 - 200_000) / 1000)] }]) }),
      /is 260s old \(more than 120s\): the gateway is no longer scraped$/,
    ],
    [
      'NaN',
      (form: URLSearchParams) => ({
        body: fresh(form) ?? vector([{ metric: {}, value: [0, 'NaN'] }]),
      }),
      /^Prometheus returned NaN for sum\(/,
    ],
    [
      'an error answer',
      () => ({
        status: 400,
        body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error' }),
      }),
      /answered HTTP 400 to timestamp\(.*\): parse error$/,
    ],
    [
      'something that is not the Prometheus API',
      () => ({ status: 502, body: '<html>bad gateway</html>' }),
      /answered HTTP 502 with something other than JSON: <html>bad gateway<\/html>$/,
    ],
  ])('%s: not ok, saying why', async (_what, answer, reason) => {
    prom.answer(answer);
    const result = await new PrometheusSource({ url: prom.url }).observe(query());
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });

  test('unreachable: not ok, saying so', async () => {
    const closed = await scripted();
    closed.server.close();
    const result = await new PrometheusSource({ url: closed.url }).observe(query());
    expect(result).toEqual({
      ok: false,
      reason: `Prometheus at ${closed.url} is unreachable: ECONNREFUSED`,
    });
  });
});

describe('GatewayMetricsSource: the same counts from one gateway’s /metrics', () => {
  let gateway: Awaited<ReturnType<typeof scripted>>;
  let text = '';
  beforeAll(async () => {
    gateway = await scripted();
    gateway.answer(() => ({ body: text }));
  });
  afterAll(() => {
    gateway.server.closeAllConnections();
    gateway.server.close();
  });

  const metrics = (n: { ok: number; failed: number; monolith: number; fallbacks: number }) =>
    [
      'figway_gateway_route_new_service_weight{route="orders-api"} 25',
      `figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="2xx"} ${n.ok}`,
      `figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="5xx"} ${n.failed}`,
      `figway_gateway_requests_total{route="orders-api",backend="orders",method="GET",code_class="aborted"} 3`,
      `figway_gateway_requests_total{route="orders-api",backend="monolith",method="GET",code_class="2xx"} ${n.monolith}`,
      `figway_gateway_requests_total{route="other",backend="orders",method="GET",code_class="5xx"} 99`,
      ...(n.fallbacks > 0
        ? [`figway_gateway_fallbacks_total{route="orders-api",backend="orders"} ${n.fallbacks}`]
        : []),
      `figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="0.1"} ${n.ok}`,
      `figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="orders",le="+Inf"} ${n.ok + n.failed + 3}`,
      `figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="monolith",le="0.1"} ${n.monolith}`,
      `figway_gateway_request_duration_seconds_bucket{route="orders-api",backend="monolith",le="+Inf"} ${n.monolith}`,
    ].join('\n');

  test('increases since the window began; series born since count whole', async () => {
    const source = new GatewayMetricsSource(`${gateway.url}/metrics`);
    text = metrics({ ok: 10, failed: 1, monolith: 40, fallbacks: 0 });
    await source.observe(query({ fromMs: T0, toMs: T0 }));
    text = metrics({ ok: 110, failed: 6, monolith: 440, fallbacks: 2 });
    const result = await source.observe(query({ fromMs: T0, toMs: T0 + 60_000, latency: true }));
    expect(result).toEqual({
      ok: true,
      observations: {
        // 100 + 5 answered, 2 fell back to the monolith (counted there, moved here).
        newService: { requests: 107, errors: 7 },
        monolith: { requests: 398, errors: 0 },
        latency: {
          // 5 of 105 above 0.1 s: the p99 is in the +Inf bucket, so its lower bound.
          newService: { p99Seconds: 0.1, count: 105 },
          monolith: { p99Seconds: expect.closeTo(0.099, 10), count: 400 },
        },
      },
    });
  });

  test('a gateway that does not serve the route is not trusted', async () => {
    text = 'figway_gateway_route_new_service_weight{route="cart-api"} 5';
    const result = await new GatewayMetricsSource(`${gateway.url}/metrics`).observe(query());
    expect(result).toEqual({
      ok: false,
      reason: `${gateway.url}/metrics has no figway_gateway_route_new_service_weight series for the route`,
    });
  });
});
