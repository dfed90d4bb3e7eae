// Loopback upstreams for the gateways under test: answer 200 with their name, or the
// status in a `/status/NNN` path segment (to exercise status classes in metrics).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  name: string;
  url: string;
  requests: number;
  close(): Promise<void>;
}

export async function startUpstream(name: string): Promise<Upstream> {
  const upstream: Upstream = {
    name,
    url: '',
    requests: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  const body = Buffer.from(`${name}\n`);
  const server = http.createServer((req, res) => {
    upstream.requests += 1;
    const m = /\/status\/(\d{3})(\/|$)/.exec(req.url ?? '');
    res.writeHead(m ? Number(m[1]) : 200, {
      'content-type': 'text/plain',
      'content-length': body.length,
    });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return upstream;
}
