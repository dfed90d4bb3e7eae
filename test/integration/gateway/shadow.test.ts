// Shadow traffic through a real gateway with real upstreams on loopback: a monolith whose
// timestamp differs on every call, a new service that differs from it in one more field,
// and what the gateway makes of them (issue 12). The client's answer is always the one
// the split chose; the comparison shows up on the admin port and in the metrics.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteShadowReport, ShadowReport } from '../../../src/gateway/shadow/registry.js';
import { MAX_FIELDS_PER_ROUTE } from '../../../src/gateway/shadow/route-stats.js';
import { CHROMIUM, CHROMIUM_INSTALL, launchChromium } from '../../tools/chromium.js';
import { testWithTool } from '../../tools/require-tool.js';
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

/** An order as a service renders it: its timestamp differs on every call, like a clock. */
function order(total: number) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        id: 42,
        total,
        timestamp: `${Date.now()}.${Math.random()}`,
        items: [{ sku: 'a', qty: 1 }],
        echo: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  };
}

function sleepThen(ms: number, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const timer = setTimeout(() => {
      handler(req, res);
    }, ms);
    res.on('close', () => {
      clearTimeout(timer);
    });
  };
}

function shadowRoute(name: string, path: string, shadow: string, backends?: string): string {
  return `    - name: ${name}
      match: { path: { type: PathPrefix, value: ${path} } }
      backends: ${backends ?? '[{ service: orders, port: 80, weight: 0 }, { monolith: true, weight: 100 }]'}
      shadow: ${shadow}
`;
}

async function shadowReport(gw: TestGateway): Promise<ShadowReport> {
  return (await send(`${gw.adminUrl}/shadow`)).json<ShadowReport>();
}

async function routeReport(gw: TestGateway, route: string): Promise<RouteShadowReport> {
  const found = (await shadowReport(gw)).routes.find((r) => r.route === route);
  if (found === undefined) throw new Error(`no shadow report for route ${route}`);
  return found;
}

/** Waits until `count` comparisons of `route` have a result of any kind. */
async function settled(gw: TestGateway, route: string, count: number, timeoutMs = 5000) {
  let report: RouteShadowReport | undefined;
  await eventually(async () => {
    report = await routeReport(gw, route);
    const r = report.requests;
    expect(r.match + r.mismatch + r.noise + r.error + r.skipped).toBeGreaterThanOrEqual(count);
  }, timeoutMs);
  return report as RouteShadowReport;
}

describe('shadow traffic', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;

  const ROUTES = [
    shadowRoute(
      'noise-cancelled',
      '/api/noise-cancelled',
      '{ backend: orders, percent: 100, compare: { noiseCancellation: true, keepSamples: 2 } }',
    ),
    shadowRoute('plain', '/api/plain', '{ backend: orders, percent: 100 }'),
    shadowRoute(
      'ignoring',
      '/api/ignoring',
      '{ backend: orders, percent: 100, compare: { ignore: ["$.timestamp"] } }',
    ),
    shadowRoute(
      'writes',
      '/api/writes',
      '{ backend: orders, percent: 100, methods: [GET, POST], allowSideEffects: true }',
    ),
    shadowRoute('small', '/api/small', '{ backend: orders, percent: 100, maxBodyBytes: 64 }'),
    shadowRoute(
      'small-writes',
      '/api/small-writes',
      '{ backend: orders, percent: 100, maxBodyBytes: 1Ki, methods: [POST], allowSideEffects: true }',
    ),
    shadowRoute(
      'reverse',
      '/api/reverse',
      '{ backend: orders, percent: 100, reverse: true, compare: { noiseCancellation: true } }',
      '[{ service: orders, port: 80, weight: 100 }, { monolith: true, weight: 0 }]',
    ),
  ].join('');

  beforeAll(async () => {
    legacy = await startUpstream('legacy', order(10));
    orders = await startUpstream('orders', order(11));
    gw = await startTestGateway(apiRoute(ROUTES), { legacy: legacy.url, orders: orders.url });
  });
  afterAll(async () => {
    await gw.close();
    await legacy.close();
    await orders.close();
  });

  it('with noise cancellation, reports only the field that really differs; the client gets the monolith', async () => {
    for (let i = 0; i < 5; i += 1) {
      const reply = await send(`${gw.url}/api/noise-cancelled/42`, {
        headers: { 'x-request-id': `shadow-test-${i}` },
      });
      expect(reply.headers['x-figway-backend']).toBe('monolith');
      expect(reply.json()).toMatchObject({ total: 10 });
    }
    const report = await settled(gw, 'noise-cancelled', 5);
    expect(report.requests).toMatchObject({ mismatch: 5, error: 0, skipped: 0 });
    expect(report.differences.map((f) => f.field)).toEqual(['$.total']);
    expect(report.differences[0]).toMatchObject({
      mismatches: 5,
      noise: 0,
      samples: [
        { monolith: '10', candidate: '11' },
        { monolith: '10', candidate: '11' },
      ],
    });
    expect(report.noise.map((f) => f.field)).toEqual(['$.timestamp']);
    // The copies: same request id, marked as shadow, the monolith asked twice.
    const copy = orders.seen.find((s) => s.headers['x-request-id'] === 'shadow-test-0');
    expect(copy?.headers['x-figway-shadow']).toBe('1');
    const atMonolith = legacy.seen.filter((s) => s.headers['x-request-id'] === 'shadow-test-0');
    expect(atMonolith.map((s) => s.headers['x-figway-shadow']).sort()).toEqual(['1', undefined]);
  });

  it('without noise cancellation, reports both the real field and the timestamp', async () => {
    for (let i = 0; i < 3; i += 1) await send(`${gw.url}/api/plain`);
    const report = await settled(gw, 'plain', 3);
    expect(report.differences.map((f) => f.field).sort()).toEqual(['$.timestamp', '$.total']);
    expect(report.noise).toEqual([]);
  });

  it('never compares ignored fields', async () => {
    for (let i = 0; i < 3; i += 1) await send(`${gw.url}/api/ignoring`);
    const report = await settled(gw, 'ignoring', 3);
    expect(report.differences.map((f) => f.field)).toEqual(['$.total']);
  });

  it('does not shadow POST by default, counting it as skipped', async () => {
    const before = orders.seen.length;
    const reply = await send(`${gw.url}/api/plain`, { method: 'POST', body: '{"n":1}' });
    expect(reply.json()).toMatchObject({ total: 10, echo: '{"n":1}' });
    const report = await settled(gw, 'plain', 4);
    expect(report.requests.skipped).toBe(1);
    expect(orders.seen.slice(before).filter((s) => s.method === 'POST')).toEqual([]);
  });

  it('shadows POST with allowSideEffects, body and all', async () => {
    const body = JSON.stringify({ item: 'x'.repeat(50_000) });
    const reply = await send(`${gw.url}/api/writes`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-request-id': 'post-1' },
    });
    expect(reply.json()).toMatchObject({ total: 10, echo: body });
    const report = await settled(gw, 'writes', 1);
    expect(report.requests.mismatch).toBe(1);
    expect(report.differences.map((f) => f.field).sort()).toEqual(['$.timestamp', '$.total']);
    const copy = orders.seen.find((s) => s.headers['x-request-id'] === 'post-1');
    expect(copy).toMatchObject({ method: 'POST', headers: { 'x-figway-shadow': '1' } });
    // The echo field matched: the copy carried the same body.
    expect(report.differences.map((f) => f.field)).not.toContain('$.echo');
  });

  it('skips a request body or an answer over maxBodyBytes, and the client never notices', async () => {
    const small = await send(`${gw.url}/api/small`);
    expect(small.json()).toMatchObject({ total: 10 });
    const report = await settled(gw, 'small', 1);
    // The answers are about 120 bytes: over 64, so nothing was compared.
    expect(report).toMatchObject({ compared: 0, requests: { skipped: 1 } });
    // HEAD answers announce that size but carry no body: they are compared.
    await send(`${gw.url}/api/small`, { method: 'HEAD' });
    expect((await settled(gw, 'small', 2)).compared).toBe(1);
    // Request bodies over the limit, announced (content-length) and not (chunked): no copy.
    const big = 'x'.repeat(5000);
    for (const [id, headers] of [
      ['big-announced', {}],
      ['big-chunked', { 'transfer-encoding': 'chunked' }],
    ] as const) {
      const reply = await send(`${gw.url}/api/small-writes`, {
        method: 'POST',
        body: big,
        headers: { ...headers, 'x-request-id': id },
      });
      expect(reply.json()).toMatchObject({ total: 10, echo: big });
      expect(orders.seen.find((s) => s.headers['x-request-id'] === id)).toBeUndefined();
    }
    expect((await settled(gw, 'small-writes', 2)).requests).toMatchObject({ skipped: 2 });
  });

  it('with reverse, copies what the new service serves to the monolith and still judges the new service', async () => {
    const reply = await send(`${gw.url}/api/reverse`);
    expect(reply.headers['x-figway-backend']).toBe('orders');
    expect(reply.json()).toMatchObject({ total: 11 });
    const report = await settled(gw, 'reverse', 1);
    expect(report.differences.map((f) => f.field)).toEqual(['$.total']);
    expect(report.differences[0]?.samples).toBeUndefined();
    expect(report.noise.map((f) => f.field)).toEqual(['$.timestamp']);
  });

  it('drops a shadow mark a client sends: only the gateway marks copies', async () => {
    await send(`${gw.url}/elsewhere`, {
      headers: { 'x-figway-shadow': '1', 'x-request-id': 'spoof' },
    });
    const seen = legacy.seen.find((s) => s.headers['x-request-id'] === 'spoof');
    expect(seen?.headers['x-figway-shadow']).toBeUndefined();
  });

  testWithTool('chromium', CHROMIUM, CHROMIUM_INSTALL)(
    'renders /shadow.html in headless Chromium with the differing field, and the noise apart',
    async () => {
      const browser = await launchChromium(CHROMIUM as string);
      try {
        const shown = await browser.evaluate<{
          differences: string[];
          noise: string[];
          summary: string;
        }>(
          `${gw.adminUrl}/shadow.html`,
          `(() => {
            const route = document.querySelector('section[data-route="noise-cancelled"]');
            const cells = (kind) =>
              [...route.querySelectorAll('table.' + kind + ' td.field')].map((td) => td.innerText);
            return {
              differences: cells('differences'),
              noise: cells('noise'),
              summary: route.querySelector('.summary').innerText,
            };
          })()`,
        );
        expect(shown).toEqual({
          differences: ['$.total'],
          noise: ['$.timestamp'],
          summary: expect.stringMatching(/^0% of 5 comparisons matched .*5 mismatched/),
        });
      } finally {
        await browser.close();
      }
    },
    60_000,
  );

  it('exports the results as bounded metrics', async () => {
    const text = await metricsOf(gw);
    expect(
      sample(
        text,
        'figway_gateway_shadow_requests_total{route="noise-cancelled",result="mismatch"}',
      ),
    ).toBe(5);
    expect(
      sample(
        text,
        'figway_gateway_shadow_field_mismatches_total{route="noise-cancelled",field="$.total"}',
      ),
    ).toBe(5);
    expect(text).not.toContain('route="noise-cancelled",field="$.timestamp"');
    expect(
      sample(
        text,
        'figway_gateway_shadow_duration_seconds_count{route="noise-cancelled",backend="orders"}',
      ),
    ).toBe(5);
    expect(
      sample(
        text,
        'figway_gateway_shadow_duration_seconds_count{route="noise-cancelled",backend="monolith"}',
      ),
    ).toBe(5);
  });
});

describe('shadow traffic never costs the client', () => {
  let legacy: Upstream;
  let slow: Upstream;
  let gw: TestGateway;
  const huge = { written: 0, finished: false, closed: false };

  beforeAll(async () => {
    legacy = await startUpstream('legacy', order(10));
    // Sleeps 5 s before answering, or answers 64 MB, or answers garbage.
    slow = await startUpstream('slow', (req, res) => {
      if (req.url?.startsWith('/api/huge')) {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const write = () => {
          while (huge.written < 64 * 1024 * 1024 && !res.destroyed) {
            huge.written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', write);
              return;
            }
          }
          res.end();
        };
        res.on('finish', () => (huge.finished = true));
        res.on('close', () => (huge.closed = true));
        write();
      } else if (req.url?.startsWith('/api/garbage')) {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"total": 1');
      } else {
        sleepThen(5000, order(11))(req, res);
      }
    });
    gw = await startTestGateway(
      apiRoute(
        [
          shadowRoute('slow', '/api/slow', '{ backend: orders, percent: 100, timeout: 2s }'),
          `    - name: unshadowed
      match: { path: { type: PathPrefix, value: /api/off } }
      backends: [{ service: orders, port: 80, weight: 0 }, { monolith: true, weight: 100 }]
`,
          shadowRoute('huge', '/api/huge', '{ backend: orders, percent: 100 }'),
          shadowRoute('garbage', '/api/garbage', '{ backend: orders, percent: 100 }'),
        ].join(''),
      ),
      { legacy: legacy.url, orders: slow.url },
      // Room for every sleeping copy of the latency test at once.
      { shadowInFlight: 32 },
    );
  });
  afterAll(async () => {
    await gw.close();
    await legacy.close();
    await slow.close();
  });

  async function latencies(path: string, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const started = performance.now();
      const reply = await send(`${gw.url}${path}`);
      out.push(performance.now() - started);
      expect(reply.json()).toMatchObject({ total: 10 });
    }
    return out.sort((a, b) => a - b);
  }

  it('a shadow that sleeps 5 s leaves the client latency as it is with shadow off', async () => {
    // Interleaved, so both see the same machine.
    const on: number[] = [];
    const off: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      on.push(...(await latencies('/api/slow', 4)));
      off.push(...(await latencies('/api/off', 4)));
    }
    const median = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    expect(median(on)).toBeLessThan(median(off) * 2 + 10);
    expect(Math.max(...on)).toBeLessThan(1000);
    // The copies timed out after 2 s: errors, not comparisons.
    const report = await settled(gw, 'slow', 20, 6000);
    expect(report.requests).toMatchObject({ error: 20, match: 0, mismatch: 0 });
  }, 20_000);

  it('an answer of 64 MB from the new service is skipped, and cut off past maxBodyBytes', async () => {
    const reply = await send(`${gw.url}/api/huge`);
    expect(reply.json()).toMatchObject({ total: 10 });
    const report = await settled(gw, 'huge', 1);
    expect(report).toMatchObject({ compared: 0, requests: { skipped: 1 } });
    // The gateway stopped reading and closed the connection: the rest was never sent.
    await eventually(() => {
      expect(huge.closed).toBe(true);
    });
    expect(huge.finished).toBe(false);
    expect(huge.written).toBeLessThan(64 * 1024 * 1024);
  });

  it('garbage from the new service is a difference, never the client answer', async () => {
    const reply = await send(`${gw.url}/api/garbage`);
    expect(reply.json()).toMatchObject({ total: 10 });
    const report = await settled(gw, 'garbage', 1);
    expect(report.differences.map((f) => f.field)).toEqual(['body']);
  });
});

describe('shadow limits', () => {
  let legacy: Upstream;
  let orders: Upstream;
  const gateways: TestGateway[] = [];
  let distinct = 0;

  beforeAll(async () => {
    legacy = await startUpstream('legacy', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    orders = await startUpstream('orders', (req, res) => {
      req.resume();
      if (req.url?.startsWith('/api/wide')) {
        // 50 field names never seen before, in every answer.
        const fields = Array.from({ length: 50 }, () => `"f${distinct++}":1`).join(',');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"ok":true,${fields}}`);
      } else {
        sleepThen(500, (_q, r) => {
          r.writeHead(200, { 'content-type': 'application/json' });
          r.end('{"ok":true}');
        })(req, res);
      }
    });
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await legacy.close();
    await orders.close();
  });

  it('keeps the field series bounded with 10,000 distinct field names', async () => {
    const gw = await startTestGateway(
      apiRoute(shadowRoute('wide', '/api/wide', '{ backend: orders, percent: 100 }')),
      { legacy: legacy.url, orders: orders.url },
    );
    gateways.push(gw);
    for (let i = 0; i < 200; i += 1) await send(`${gw.url}/api/wide`);
    const report = await settled(gw, 'wide', 200);
    expect(distinct).toBeGreaterThanOrEqual(10_000);
    expect(report.requests.mismatch).toBe(200);
    expect(report.differences).toHaveLength(MAX_FIELDS_PER_ROUTE + 1);
    expect(report.differences[0]).toMatchObject({ field: '(other)', mismatches: 198 });
    const series = (await metricsOf(gw))
      .split('\n')
      .filter((l) => l.startsWith('figway_gateway_shadow_field_mismatches_total{'));
    expect(series).toHaveLength(MAX_FIELDS_PER_ROUTE + 1);
  }, 30_000);

  it('holds at most the in-flight cap of comparisons, skipping and counting the rest', async () => {
    const gw = await startTestGateway(
      apiRoute(shadowRoute('capped', '/api/capped', '{ backend: orders, percent: 100 }')),
      { legacy: legacy.url, orders: orders.url },
      { shadowInFlight: 2 },
    );
    gateways.push(gw);
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => send(`${gw.url}/api/capped`)),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await shadowReport(gw)).toMatchObject({ inFlight: 2, maxInFlight: 2 });
    const report = await settled(gw, 'capped', 6);
    expect(report.requests).toMatchObject({ match: 2, skipped: 4 });
    // The slots come back once the copies are done.
    expect((await shadowReport(gw)).inFlight).toBe(0);
    await send(`${gw.url}/api/capped`);
    expect((await settled(gw, 'capped', 7)).requests.match).toBe(3);
  });
});
