// Websocket upgrades through the gateway (issue 11, "Upgrades"): a working tunnel, and the
// handshakes that used to leak: 20 stalled handshakes held 40 sockets for over 76 s while
// figway_gateway_websockets_open said 20.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import {
  apiRoute,
  closedPort,
  connectionsOf,
  eventually,
  metricsOf,
  RawClient,
  sample,
  startSilentUpstream,
  startTestGateway,
  startUpstream,
  type SilentUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const OPEN_GAUGE = 'figway_gateway_websockets_open';

function handshake(path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: shop.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
  );
}

const ROUTES = apiRoute(`
    - name: live
      match: { path: { type: PathPrefix, value: /live } }
      backends: [{ service: ws, port: 80, weight: 100 }]
      requestHeaders: { set: { x-from: figway }, remove: [x-secret] }
    - name: hang
      match: { path: { type: PathPrefix, value: /hang } }
      backends: [{ service: silent, port: 80, weight: 100 }]
      timeout: 500ms
    - name: wait
      match: { path: { type: PathPrefix, value: /wait } }
      backends: [{ service: silent, port: 80, weight: 100 }]
      timeout: 30s
    - name: plain
      match: { path: { type: PathPrefix, value: /plain } }
      backends: [{ service: plain, port: 80, weight: 100 }]
    - name: down
      match: { path: { type: PathPrefix, value: /down } }
      backends: [{ service: down, port: 80, weight: 100 }]
`);

async function openGauge(gw: TestGateway): Promise<number | undefined> {
  return sample(await metricsOf(gw), OPEN_GAUGE);
}

describe('websocket upgrades', () => {
  let legacy: Upstream;
  let plain: Upstream;
  let wsUpstream: Upstream;
  let silent: SilentUpstream;
  let gw: TestGateway;
  let wsHeaders: IncomingMessage['headers'] = {};
  let resolve: Record<string, string> = {};

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    plain = await startUpstream('plain');
    wsUpstream = await startUpstream('ws');
    const wss = new WebSocketServer({ server: wsUpstream.server });
    wss.on('connection', (socket, req) => {
      wsHeaders = req.headers;
      socket.on('message', (data: Buffer) => {
        socket.send(`echo ${data.toString()}`);
      });
    });
    silent = await startSilentUpstream();
    const down = await closedPort();
    resolve = {
      legacy: legacy.url,
      plain: plain.url,
      ws: wsUpstream.url,
      silent: silent.url,
      down: `http://127.0.0.1:${down}`,
    };
    gw = await startTestGateway(ROUTES, resolve);
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, plain, wsUpstream, silent]) await u.close();
  });

  it('tunnels a round trip with the route header modifiers and the request id; the open gauge goes 1 → 0 on close', async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/live/room`, {
      headers: { 'x-request-id': 'ws-round-trip', 'x-secret': 'hunter2' },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => {
        ws.send('ping');
      });
      ws.on('message', (data: Buffer) => {
        resolve(data.toString());
      });
      ws.on('error', reject);
    });
    expect(reply).toBe('echo ping');
    expect(wsHeaders['x-request-id']).toBe('ws-round-trip');
    expect(wsHeaders['x-from']).toBe('figway');
    expect(wsHeaders['x-secret']).toBeUndefined();
    expect(await openGauge(gw)).toBe(1);
    ws.close();
    await eventually(async () => {
      expect(await openGauge(gw)).toBe(0);
    }, 3000);
  });

  it('answers 504 at the route timeout to handshakes the upstream never answers, and frees their upstream sockets', async () => {
    const acceptedBefore = silent.accepted;
    const started = Date.now();
    const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(gw.port)));
    for (const client of clients) client.write(handshake('/hang/room'));
    await eventually(() => {
      expect(silent.accepted - acceptedBefore).toBe(5);
    }, 2000);
    // Handshakes in progress are not open tunnels.
    expect(await openGauge(gw)).toBe(0);
    for (const client of clients) {
      expect(await client.status(3000)).toBe(504);
      await client.end(2000);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(clients[0]?.received).toMatch(/"reason":"timeout"/);
    await eventually(async () => {
      expect(silent.open.size).toBe(0);
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
    expect(await openGauge(gw)).toBe(0);
  });

  it('frees the upstream socket when the client leaves mid-handshake', async () => {
    const acceptedBefore = silent.accepted;
    const clients = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect(gw.port)));
    for (const client of clients) client.write(handshake('/wait/room'));
    await eventually(() => {
      expect(silent.accepted - acceptedBefore).toBe(3);
      expect(silent.open.size).toBe(3);
    }, 2000);
    for (const client of clients) client.destroy();
    // The route timeout is 30 s: only the client's leaving can free these.
    await eventually(() => {
      expect(silent.open.size).toBe(0);
    }, 2000);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2000);
    expect(await openGauge(gw)).toBe(0);
  });

  it('shutdown cuts handshakes still waiting for their upstream', async () => {
    const other = await startTestGateway(ROUTES, resolve);
    const acceptedBefore = silent.accepted;
    const client = await RawClient.connect(other.port);
    client.write(handshake('/wait/room'));
    await eventually(() => {
      expect(silent.accepted - acceptedBefore).toBe(1);
    }, 2000);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await client.end(1000);
    await eventually(() => {
      expect(silent.open.size).toBe(0);
    }, 2000);
  });

  it.each([
    [
      'h2c, as curl --http2 asks',
      'h2c',
      'Upgrade, HTTP2-Settings',
      'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n',
    ],
    ['an unknown protocol', 'figway-test/1', 'Upgrade', ''],
  ])('serves an upgrade to %s as a plain request', async (_name, protocol, connection, extra) => {
    const client = await RawClient.connect(gw.port);
    client.write(
      `GET /plain/h2c HTTP/1.1\r\nHost: shop.test\r\nConnection: ${connection}\r\n` +
        `Upgrade: ${protocol}\r\n${extra}\r\n`,
    );
    expect(await client.status()).toBe(200);
    await client.until(() => client.received.includes('"servedBy":"plain"'), 2000, 'the body');
    client.destroy();
    const seen = plain.seen.at(-1);
    expect(seen?.url).toBe('/plain/h2c');
    expect(seen?.headers.upgrade).toBeUndefined();
    expect(seen?.headers['http2-settings']).toBeUndefined();
  });

  it('serves a websocket handshake on POST as a plain request', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(
      handshake('/plain/post')
        .replace('GET', 'POST')
        .replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'),
    );
    expect(await client.status()).toBe(200);
    client.destroy();
    expect(plain.seen.at(-1)?.method).toBe('POST');
  });

  it("relays a plain upstream's answer to a websocket handshake and closes, rather than dropping it", async () => {
    const client = await RawClient.connect(gw.port);
    client.write(handshake('/plain/socket'));
    expect(await client.status()).toBe(200);
    await client.end(2000);
    expect(client.received).toContain('"servedBy":"plain"');
    expect(await openGauge(gw)).toBe(0);
  });

  it('closes the connection of a refused handshake even if the client does not', async () => {
    const client = await RawClient.connect(gw.port, { allowHalfOpen: true });
    client.write(handshake('*'));
    expect(await client.status()).toBe(400);
    await client.end(2000);
    await eventually(async () => {
      expect(await connectionsOf(gw)).toBe(0);
    }, 2500);
    client.destroy();
  });

  it('answers 502 to a handshake whose upstream is down', async () => {
    const client = await RawClient.connect(gw.port);
    client.write(handshake('/down/socket'));
    expect(await client.status()).toBe(502);
    await client.end(2000);
    expect(client.received).toMatch(/"reason":"connect-failure"/);
  });
});
