// The bare undici baseline of bench/gateway.ts: the gateway's engine technique (a pool
// dispatch handler writing straight into the response) in a few lines, with none of the
// gateway's features. Plain JavaScript so it runs on bare node, like the built gateway.
// Usage: node bench/gateway-bare-undici.js PORT UPSTREAM_URL
import { createServer } from 'node:http';
import process from 'node:process';
import { Pool } from 'undici';

const [port, upstream] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
const HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'expect',
  'host',
]);

function endToEnd(headers) {
  const out = {};
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name];
  return out;
}

class Handler {
  constructor(res) {
    this.res = res;
  }
  onRequestStart() {}
  onResponseStart(_controller, status, headers) {
    this.res.writeHead(status, endToEnd(headers));
  }
  onResponseData(controller, chunk) {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }
  onResponseEnd() {
    this.res.end();
  }
  onResponseError() {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

createServer((req, res) => {
  pool.dispatch(
    {
      method: req.method,
      path: req.url,
      headers: endToEnd(req.headers),
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    },
    new Handler(res),
  );
}).listen(Number(port), '127.0.0.1');
