// Clients that do not behave (issue 11, "Slow and absent readers" and "Timeouts stated, not
// inherited"), driven over raw sockets with short limits. What used to happen: 3 clients
// that stopped reading held 3 upstream connections past 100 s with a 3 s route timeout, and
// 50 uploads answered early kept their sockets open 74 s after their clients closed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import {
  apiRoute,
  connectionsOf,
  eventually,
  RawClient,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const MB = 1024 * 1024;
const DOWNLOAD = 50 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 7);

/** The head of an upload of `length` bytes, of which the client will send only a part. */
function uploadHead(path: string, length: number): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/octet-stream\r\n` +
    `Content-Length: ${length}\r\n\r\n`
  );
}

describe('slow and absent readers', () => {
  let legacy: Upstream;
  let source: Upstream;
  let refusing: Upstream;
  let stalled: Upstream;
  let gw: TestGateway;
  /** Download responses the upstream could not finish because the gateway closed them. */
  let downloadsCut = 0;
  let downloadSent = 0;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    source = await startUpstream('source', (req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(DOWNLOAD),
      });
      res.on('close', () => {
        if (!res.writableFinished) downloadsCut += 1;
      });
      const pump = () => {
        while (downloadSent < DOWNLOAD && !res.destroyed) {
          downloadSent += CHUNK.length;
          if (!res.write(CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    // Refuses an upload at once, without reading it.
    refusing = await startUpstream('refusing', (_req, res) => {
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end('too large');
    });
    // Neither reads nor answers.
    stalled = await startUpstream('stalled', () => undefined);
    const routes = `
    - name: download
      match: { path: { type: PathPrefix, value: /download } }
      backends: [{ service: source, port: 80, weight: 100 }]
      timeout: 30s
    - name: refusing
      match: { path: { type: PathPrefix, value: /refusing } }
      backends: [{ service: refusing, port: 80, weight: 100 }]
      timeout: 30s
    - name: stalled
      match: { path: { type: PathPrefix, value: /stalled } }
      backends: [{ service: stalled, port: 80, weight: 100 }]
      timeout: 500ms
`;
    gw = await startTestGateway(
      apiRoute(routes),
      { legacy: legacy.url, source: source.url, refusing: refusing.url, stalled: stalled.url },
      // The request timeout stays long: these clients must be cut by the limits under test.
      { limits: { sendTimeoutMs: 500, requestTimeoutMs: 60_000 } },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, source, refusing, stalled]) await u.close();
  });

  it('cuts a client that stops reading a download after the send timeout, freeing the upstream connection', async () => {
    const client = connect(gw.port, '127.0.0.1');
    client.on('error', () => undefined);
    // No 'data' listener: the socket reads its buffer full and then nothing more.
    client.write('GET /download/big HTTP/1.1\r\nHost: shop.test\r\n\r\n');
    const started = Date.now();
    try {
      await eventually(() => {
        expect(downloadsCut).toBe(1);
      }, 5000);
      expect(downloadSent).toBeLessThan(DOWNLOAD / 2);
      await eventually(async () => {
        expect(await connectionsOf(gw)).toBe(0);
      }, 2000);
      // Seconds, not the 30 s route timeout.
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      client.destroy();
    }
  });

  it('closes the socket of an upload the upstream refused at once (413) while its body is pending', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(uploadHead('/refusing/file', 10 * MB));
    client.write(CHUNK);
    expect(await client.status(2000)).toBe(413);
    await client.end(2000);
    expect(client.received).toContain('too large');
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
  });

  it('closes the socket of an upload answered 504 at the route timeout while its body is pending', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(uploadHead('/stalled/file', 10 * MB));
    client.write(CHUNK);
    expect(await client.status(2000)).toBe(504);
    await client.end(2000);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
  });

  it('frees the socket and the upstream request of a client that gives up mid-upload', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(uploadHead('/stalled/gave-up', 10 * MB));
    client.write(CHUNK);
    await eventually(() => {
      expect(stalled.seen.some((s) => s.url === '/stalled/gave-up')).toBe(true);
    }, 2000);
    // Half-close, as a client that stops sending and waits does; the gateway must not wait too.
    client.socket.end();
    await client.end(2000);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
  });
});

describe('stated connection limits', () => {
  let legacy: Upstream;
  let streaming: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    // Starts its answer at once, and ends it when the upload is complete.
    streaming = await startUpstream('streaming', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started;');
      req.resume();
      req.on('end', () => res.end('done'));
    });
    gw = await startTestGateway(
      apiRoute(`
    - name: api
      match: { path: { type: PathPrefix, value: /api } }
      backends: [{ monolith: true, weight: 100 }]
    - name: streaming
      match: { path: { type: PathPrefix, value: /streaming } }
      backends: [{ service: streaming, port: 80, weight: 100 }]
      timeout: 30s
`),
      { legacy: legacy.url, streaming: streaming.url },
      {
        // Far apart, so that each test can tell which limit cut it.
        limits: {
          maxHeaderBytes: 4096,
          headersTimeoutMs: 300,
          requestTimeoutMs: 2500,
          keepAliveTimeoutMs: 300,
        },
      },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, streaming]) await u.close();
  });

  it('answers 431 to a head larger than maxHeaderBytes', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(`GET /api/a HTTP/1.1\r\nHost: shop.test\r\nX-Big: ${'b'.repeat(8000)}\r\n\r\n`);
    expect(await client.status()).toBe(431);
    await client.end(2000);
  });

  it('serves a head just under maxHeaderBytes', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(`GET /api/a HTTP/1.1\r\nHost: shop.test\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`);
    expect(await client.status()).toBe(200);
    client.destroy();
  });

  it('answers 408 to a head trickled slower than headersTimeoutMs, and closes even if the client does not', async () => {
    const client = await RawClient.connect(gw.port, { allowHalfOpen: true });
    const started = Date.now();
    client.write('GET /api/slow HTTP/1.1\r\nHost: shop.test\r\n');
    // A byte every 100 ms: never idle long, but the head is never done.
    const trickle = setInterval(() => {
      if (!client.ended) client.write('x');
    }, 100);
    try {
      client.write('X-Slow: ');
      expect(await client.status(3000)).toBe(408);
      await client.end(2000);
    } finally {
      clearInterval(trickle);
    }
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    // Well before the request timeout (2.5 s), which would also answer 408.
    expect(took).toBeLessThan(1800);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
    client.destroy();
  });

  it('answers 408 to an upload slower than requestTimeoutMs', async () => {
    const client = await RawClient.connect(gw.port);
    const started = Date.now();
    client.write(uploadHead('/api/upload', 1000));
    client.write('only ten b');
    expect(await client.status(5000)).toBe(408);
    await client.end(2000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
  });

  it('cuts an upload slower than requestTimeoutMs whose answer has begun, without writing a 408 into it', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(uploadHead('/streaming/upload', 1000));
    client.write('only ten b');
    await client.until(() => client.received.includes('started;'), 2000, 'the answer to begin');
    await client.end(5000);
    expect(client.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received).not.toMatch(/HTTP\/1\.1 408/);
    // Cut, not ended: no last chunk.
    expect(client.received).not.toContain('0\r\n\r\n');
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    const client = await RawClient.connect(gw.port);
    client.write('GET /api/idle HTTP/1.1\r\nHost: shop.test\r\n\r\n');
    expect(await client.status()).toBe(200);
    await client.until(() => client.received.includes('"servedBy":"legacy"'), 2000, 'the body');
    const answered = Date.now();
    expect(client.received).not.toMatch(/connection: close/i);
    // Node adds its keepAliveTimeoutBuffer (1 s) to the advertised timeout.
    await client.end(2500);
    const idle = Date.now() - answered;
    expect(idle).toBeGreaterThanOrEqual(250);
    expect(idle).toBeLessThan(2500);
  });
});
