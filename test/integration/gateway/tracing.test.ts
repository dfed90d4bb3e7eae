// spec.gateway.tracing against a real OTLP receiver: the OpenTelemetry Collector built from
// its Go modules (test/tools/build-otelcol.sh), writing what it received to a file. Real
// upstreams on loopback show what traceparent they were sent.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent } from 'node:http';
import {
  otelcolBin,
  OTELCOL_BUILD,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  STATUS_ERROR,
  startCollector,
  type CollectedSpan,
  type RunningCollector,
} from '../../tools/otel-collector.js';
import {
  apiRoute,
  closedPort,
  eventually,
  LogLines,
  metricsOf,
  sample,
  send,
  startSilentUpstream,
  startTestGateway,
  startUpstream,
  type SilentUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const it = otelcolBin !== undefined ? test : test.skip;
if (otelcolBin === undefined)
  process.stderr.write(
    `\n!!! SKIPPING the tracing tests: no OpenTelemetry Collector. ${OTELCOL_BUILD}\n\n`,
  );

const ROUTES = `
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
    - name: flaky
      match: { path: { type: PathPrefix, value: /flaky } }
      backends: [{ service: flaky, port: 80, weight: 100 }]
      retries: { attempts: 2, conditions: ['503'] }
    - name: fallback
      match: { path: { type: PathPrefix, value: /fallback } }
      backends: [{ service: down, port: 80, weight: 100 }, { monolith: true, weight: 0 }]
      fallbackToMonolith: true
    - name: shadowed
      match: { path: { type: PathPrefix, value: /shadowed } }
      backends: [{ service: orders, port: 80, weight: 0 }, { monolith: true, weight: 100 }]
      shadow: { backend: orders, percent: 100 }
    - name: overview
      match: { path: { type: Exact, value: '/overview/{id}' } }
      compose:
        parts:
          - { name: order, backend: orders, path: '/orders/{id}' }
          - { name: history, monolith: true, path: '/legacy/{id}' }
`;

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

function parseTraceparent(value: unknown): { traceId: string; parentId: string; flags: string } {
  const match = TRACEPARENT.exec(String(value));
  if (match === null) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1] as string, parentId: match[2] as string, flags: match[3] as string };
}

/** Spans of one trace, by kind, once `count` of them have arrived. */
async function traceSpans(
  collector: RunningCollector,
  traceId: string,
  count: number,
): Promise<CollectedSpan[]> {
  const all = await collector.waitForSpans(
    `${count} spans of trace ${traceId}`,
    (spans) => spans.filter((s) => s.traceId === traceId).length >= count,
  );
  return all.filter((s) => s.traceId === traceId);
}

describe('tracing', () => {
  let collector: RunningCollector;
  let legacy: Upstream;
  let orders: Upstream;
  let flaky: Upstream;
  let gw: TestGateway;
  const access = new LogLines();
  let flakyCalls = 0;

  beforeAll(async () => {
    if (otelcolBin === undefined) return;
    collector = await startCollector();
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    // Every first call of a request id fails with 503, the retry succeeds.
    flaky = await startUpstream('flaky', (req, res) => {
      req.resume();
      flakyCalls += 1;
      res.writeHead(flakyCalls % 2 === 1 ? 503 : 200).end();
    });
    gw = await startTestGateway(
      apiRoute(
        ROUTES,
        `  gateway:\n    accessLog: { sampleRatio: 1 }\n    tracing: { endpoint: '${collector.endpoint}', samplingRatio: 1 }\n`,
      ),
      {
        legacy: legacy.url,
        orders: orders.url,
        flaky: flaky.url,
        down: `http://127.0.0.1:${await closedPort()}`,
      },
      { accessLogStream: access },
    );
  }, 60_000);
  afterAll(async () => {
    if (otelcolBin === undefined) return;
    await gw.close();
    for (const u of [legacy, orders, flaky]) await u.close();
    await collector.stop();
  });

  it("continues the client's trace: server span under the client's, attempt under it, traceparent to the upstream", async () => {
    const reply = await send(`${gw.url}/api/orders/7?token=secret`, {
      headers: {
        traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
        tracestate: 'vendor=opaque',
        'x-request-id': 'traced-1',
      },
    });
    expect(reply.status).toBe(200);
    const seen = orders.seen.at(-1)?.headers ?? {};
    const sent = parseTraceparent(seen.traceparent);
    expect(sent.traceId).toBe(CLIENT_TRACE);
    expect(sent.flags).toBe('01');
    expect(seen.tracestate).toBe('vendor=opaque');

    const spans = await traceSpans(collector, CLIENT_TRACE, 2);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    const attempt = spans.find((s) => s.kind === SPAN_KIND_CLIENT) as CollectedSpan;
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    expect(attempt.parentSpanId).toBe(server.spanId);
    // The upstream's parent is the attempt span, so its own spans hang under the attempt.
    expect(sent.parentId).toBe(attempt.spanId);
    expect(server.name).toBe('GET orders');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/api/orders/7',
      'http.response.status_code': 200,
      'figway.route': 'orders',
      'figway.backend': 'orders',
      'figway.request_id': 'traced-1',
      'figway.migration.weight': 100,
    });
    // The query (tokens travel there) is not recorded.
    expect(JSON.stringify(server.attributes)).not.toContain('secret');
    expect(attempt.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'figway.backend': 'orders',
      'server.address': '127.0.0.1',
      'server.port': orders.port,
    });
    expect(server.resource).toMatchObject({
      'service.name': 'shop-gateway',
      'k8s.namespace.name': 'test',
    });
    // The access log names the trace.
    await eventually(() => {
      expect(access.lines).toContainEqual(
        expect.objectContaining({ requestId: 'traced-1', traceId: CLIENT_TRACE }),
      );
    });
  });

  it('starts a trace for a request without traceparent and logs its id', async () => {
    const reply = await send(`${gw.url}/api/orders/8`, { headers: { 'x-request-id': 'fresh-1' } });
    expect(reply.status).toBe(200);
    const sent = parseTraceparent(orders.seen.at(-1)?.headers.traceparent);
    expect(sent.traceId).not.toBe(CLIENT_TRACE);
    const spans = await traceSpans(collector, sent.traceId, 2);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    expect(server.parentSpanId).toBe('');
    await eventually(() => {
      expect(access.lines).toContainEqual(
        expect.objectContaining({ requestId: 'fresh-1', traceId: sent.traceId }),
      );
    });
  });

  it('a retry is a second attempt span under the same server span', async () => {
    const reply = await send(`${gw.url}/flaky`);
    expect(reply.status).toBe(200);
    const calls = flaky.seen.slice(-2).map((s) => parseTraceparent(s.headers.traceparent));
    expect(calls[0]?.traceId).toBe(calls[1]?.traceId);
    expect(calls[0]?.parentId).not.toBe(calls[1]?.parentId);
    const spans = await traceSpans(collector, calls[0]?.traceId as string, 3);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    const first = spans.find((s) => s.spanId === calls[0]?.parentId) as CollectedSpan;
    const retry = spans.find((s) => s.spanId === calls[1]?.parentId) as CollectedSpan;
    for (const attempt of [first, retry]) expect(attempt.parentSpanId).toBe(server.spanId);
    expect(first.attributes['http.response.status_code']).toBe(503);
    expect(first.statusCode).toBe(STATUS_ERROR);
    expect(first.attributes['figway.retry']).toBeUndefined();
    expect(retry.attributes).toMatchObject({
      'http.response.status_code': 200,
      'http.request.resend_count': 1,
      'figway.retry': true,
    });
    expect(server.attributes['http.response.status_code']).toBe(200);
  });

  it('a fallback to the monolith is its own span after the failed attempt', async () => {
    const reply = await send(`${gw.url}/fallback`);
    expect(reply.status).toBe(200);
    const sent = parseTraceparent(legacy.seen.at(-1)?.headers.traceparent);
    const spans = await traceSpans(collector, sent.traceId, 3);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    const failed = spans.find((s) => s.attributes['figway.backend'] === 'down') as CollectedSpan;
    const fallback = spans.find((s) => s.spanId === sent.parentId) as CollectedSpan;
    expect(failed.parentSpanId).toBe(server.spanId);
    expect(failed.statusCode).toBe(STATUS_ERROR);
    expect(failed.attributes['error.type']).toBe('connect-failure');
    expect(fallback.parentSpanId).toBe(server.spanId);
    expect(fallback.attributes).toMatchObject({
      'figway.backend': 'monolith',
      'figway.fallback': true,
      'http.response.status_code': 200,
    });
    expect(server.attributes['figway.backend']).toBe('monolith');
  });

  it('a shadow copy gets a span of its own, marked, and carries the trace to the candidate', async () => {
    const before = orders.seen.length;
    const reply = await send(`${gw.url}/shadowed/1`);
    expect(reply.status).toBe(200);
    const served = parseTraceparent(legacy.seen.at(-1)?.headers.traceparent);
    await eventually(() => {
      expect(orders.seen.length).toBe(before + 1);
    });
    const copied = parseTraceparent(orders.seen.at(-1)?.headers.traceparent);
    expect(copied.traceId).toBe(served.traceId);
    const spans = await traceSpans(collector, served.traceId, 3);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    const shadow = spans.find((s) => s.spanId === copied.parentId) as CollectedSpan;
    expect(shadow.parentSpanId).toBe(server.spanId);
    expect(shadow.attributes).toMatchObject({
      'figway.shadow': true,
      'figway.backend': 'orders',
      'http.response.status_code': 200,
    });
    const attempt = spans.find((s) => s.spanId === served.parentId) as CollectedSpan;
    expect(attempt.attributes['figway.shadow']).toBeUndefined();
  });

  it('each composed part is a client span under the server span, and carries the trace', async () => {
    const reply = await send(`${gw.url}/overview/7`);
    expect(reply.status).toBe(200);
    const toOrders = parseTraceparent(
      orders.seen.find((s) => s.url === '/orders/7')?.headers.traceparent,
    );
    const toLegacy = parseTraceparent(
      legacy.seen.find((s) => s.url === '/legacy/7')?.headers.traceparent,
    );
    expect(toLegacy.traceId).toBe(toOrders.traceId);
    const spans = await traceSpans(collector, toOrders.traceId, 3);
    const server = spans.find((s) => s.kind === SPAN_KIND_SERVER) as CollectedSpan;
    const order = spans.find((s) => s.spanId === toOrders.parentId) as CollectedSpan;
    const history = spans.find((s) => s.spanId === toLegacy.parentId) as CollectedSpan;
    for (const part of [order, history]) {
      expect(part.kind).toBe(SPAN_KIND_CLIENT);
      expect(part.parentSpanId).toBe(server.spanId);
    }
    expect(order.attributes).toMatchObject({
      'figway.compose.part': 'order',
      'figway.backend': 'orders',
      'http.response.status_code': 200,
    });
    expect(history.attributes).toMatchObject({
      'figway.compose.part': 'history',
      'figway.backend': 'monolith',
    });
  });

  it("a caller's decision not to sample is kept: no spans, the trace id still passed on", async () => {
    const unsampled = 'ffeeddccbbaa99887766554433221100';
    const reply = await send(`${gw.url}/api/orders/9`, {
      headers: { traceparent: `00-${unsampled}-${CLIENT_SPAN}-00`, tracestate: 'vendor=kept' },
    });
    expect(reply.status).toBe(200);
    const seen = orders.seen.at(-1)?.headers ?? {};
    const sent = parseTraceparent(seen.traceparent);
    expect(sent).toMatchObject({ traceId: unsampled, flags: '00' });
    expect(sent.parentId).not.toBe(CLIENT_SPAN);
    expect(seen.tracestate).toBe('vendor=kept');
    // A later, sampled request's spans arriving shows the earlier ones would have too.
    await send(`${gw.url}/api/orders/10`, {
      headers: { traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-01` },
    });
    await traceSpans(collector, '1'.repeat(32), 2);
    expect(collector.spans().filter((s) => s.traceId === unsampled)).toEqual([]);
  });

  it('a malformed traceparent starts a new trace and its tracestate is not passed on', async () => {
    const reply = await send(`${gw.url}/api/orders/11`, {
      headers: { traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`, tracestate: 'a=b' },
    });
    expect(reply.status).toBe(200);
    const seen = orders.seen.at(-1)?.headers ?? {};
    expect(parseTraceparent(seen.traceparent).traceId).not.toBe('0'.repeat(32));
    expect(seen.tracestate).toBeUndefined();
  });
});

describe('tracing with a collector that is down or hangs', () => {
  let upstream: Upstream;
  let hanging: SilentUpstream;
  const gateways: TestGateway[] = [];

  async function gatewayTo(endpoint: string): Promise<TestGateway> {
    const gw = await startTestGateway(
      apiRoute(ROUTES, `  gateway:\n    tracing: { endpoint: '${endpoint}', samplingRatio: 1 }\n`),
      { legacy: upstream.url, orders: upstream.url, flaky: upstream.url, down: upstream.url },
    );
    gateways.push(gw);
    return gw;
  }

  async function dropped(gw: TestGateway, reason: string): Promise<number> {
    return (
      sample(await metricsOf(gw), `figway_gateway_trace_spans_dropped_total{reason="${reason}"}`) ??
      0
    );
  }

  beforeAll(async () => {
    upstream = await startUpstream('orders');
    hanging = await startSilentUpstream();
  });
  // Each gateway's stop waits up to SHUTDOWN_FLUSH_MS for a collector that never answers.
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await upstream.close();
    await hanging.close();
  }, 15_000);

  it('a refused export is counted, and requests are served as without tracing', async () => {
    const gw = await gatewayTo(`http://127.0.0.1:${await closedPort()}`);
    for (let i = 0; i < 20; i += 1)
      expect((await send(`${gw.url}/api/orders/${i}`)).status).toBe(200);
    await eventually(async () => {
      expect(await dropped(gw, 'export_failed')).toBeGreaterThanOrEqual(40);
    }, 15_000);
  }, 30_000);

  it('a collector that never answers fills the bounded queue: spans are dropped, requests never wait', async () => {
    const gw = await gatewayTo(hanging.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    // Two spans per request: 1500 requests overflow the queue of 2048 while the first
    // batch of 512 hangs in its export. A request that waited for the collector would wait out the export
    // timeout (5 s): 30 rounds of those would overrun this test's own timeout.
    const statuses: number[] = [];
    for (let batch = 0; batch < 1500 / 50; batch += 1) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => send(`${gw.url}/api/orders/${batch}-${i}`, { agent })),
      );
      statuses.push(...replies.map((r) => r.status));
    }
    agent.destroy();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    await eventually(async () => {
      expect(await dropped(gw, 'queue_full')).toBeGreaterThan(0);
    });
    expect(hanging.accepted).toBeGreaterThan(0);
  }, 60_000);
});
