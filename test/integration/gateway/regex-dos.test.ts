// Regression test for issue 11: with V8's backtracking engine, the route regex `/(a+)+$`
// let one 33-character request hold the gateway's event loop for 36 s: every other
// request and /healthz waited. Route regexes now run on RE2 (src/api/regex.ts), in time
// linear in the value. The gateway runs as its own process, so a stall shows as missed
// deadlines here instead of freezing the test.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiRoute, spawnCli, startUpstream, type CliProcess, type Upstream } from './helpers.js';

/** How long any one answer may take while the pathological request is being handled. */
const DEADLINE_MS = 1000;

interface RawReply {
  status: number;
  headers: Record<string, string>;
  ms: number;
}

/**
 * One HTTP/1.1 request written on a raw socket (no client-side parsing limits or
 * keep-alive in the way); rejects when no complete answer arrives within DEADLINE_MS.
 */
function rawGet(port: number, target: string, headers: Record<string, string> = {}) {
  return new Promise<RawReply>((resolve, reject) => {
    const start = performance.now();
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to GET ${target.slice(0, 40)}… within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const [statusLine = '', ...lines] = received.split('\r\n\r\n')[0]?.split('\r\n') ?? [];
      const fields = lines.map((l) => [
        l.slice(0, l.indexOf(':')).toLowerCase(),
        l.slice(l.indexOf(':') + 1).trim(),
      ]);
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers: Object.fromEntries(fields),
        ms: performance.now() - start,
      });
    });
    const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    // write, not end: Node's server drops a half-closed socket before it answers.
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: shop.test\r\n${extra.join('')}Connection: close\r\n\r\n`,
    );
  });
}

/** A string of `length` characters that almost matches `(a+)+$`: the worst case for backtracking. */
const nearMiss = (length: number) => `${'a'.repeat(length - 1)}!`;

describe('issue 11: a route regex with nested quantifiers cannot stall the gateway', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let dir: string;
  let cli: CliProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    dir = mkdtempSync(join(tmpdir(), 'figway-regex-'));
    const file = join(dir, 'apiroute.yaml');
    writeFileSync(
      file,
      apiRoute(`
    - name: nested-path
      match: { path: { type: RegularExpression, value: '/(a+)+$' } }
      backends: [{ service: orders, port: 80, weight: 100 }]
    - name: nested-header
      match:
        path: { type: PathPrefix, value: /tenant }
        headers: [{ name: x-tenant, type: RegularExpression, value: '(a+)+$' }]
      backends: [{ service: orders, port: 80, weight: 100 }]
    - name: ordinary
      match: { path: { type: PathPrefix, value: /api } }
      backends: [{ service: orders, port: 80, weight: 100 }]
`),
    );
    cli = spawnCli([
      'gateway',
      '--config',
      file,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--host',
      '127.0.0.1',
      '--resolve',
      `legacy=${legacy.url}`,
      '--resolve',
      `orders=${orders.url}`,
    ]);
    const listening = await cli.waitForLine((l) => l.message === 'gateway listening');
    port = Number(listening.port);
    adminPort = Number(listening.adminPort);
  }, 30_000);

  afterAll(async () => {
    cli.child.kill('SIGKILL');
    await cli.exited;
    await legacy.close();
    await orders.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, number, string, Record<string, string>][] = [
    ['path', 33, `/${nearMiss(32)}`, {}],
    // 8,000: paths over 8 KiB are refused with 414 before any matching (request-head.ts).
    ['path', 8_000, `/${nearMiss(7_999)}`, {}],
    ['header', 33, '/tenant', { 'x-tenant': nearMiss(33) }],
    ['header', 10_000, '/tenant', { 'x-tenant': nearMiss(10_000) }],
  ];

  it.each(cases)(
    'a %s of %i characters that nearly matches is answered at once, and so are /healthz and an ordinary request sent with it',
    async (_where, _length, target, headers) => {
      const pathological = rawGet(port, target, headers);
      const healthz = rawGet(adminPort, '/healthz');
      const ordinary = rawGet(port, '/api/orders/7');
      const [p, h, o] = await Promise.all([pathological, healthz, ordinary]);
      // The near miss matches no route: the monolith answers it.
      expect(p).toMatchObject({ status: 200, headers: { 'x-figway-backend': 'monolith' } });
      expect(h.status).toBe(200);
      expect(o).toMatchObject({ status: 200, headers: { 'x-figway-backend': 'orders' } });
    },
    10_000,
  );

  it('still routes what the regexes match to the new service', async () => {
    const path = await rawGet(port, `/${'a'.repeat(7_999)}`);
    const header = await rawGet(port, '/tenant', { 'x-tenant': 'a'.repeat(10_000) });
    expect(path.headers['x-figway-backend']).toBe('orders');
    expect(header.headers['x-figway-backend']).toBe('orders');
  });
});
