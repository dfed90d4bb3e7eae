// The bare http-proxy-3 baseline of bench/gateway.ts: a proxy of a few lines with an
// explicit keep-alive agent, nothing else. Plain JavaScript so it runs on bare node, like
// the built gateway. Usage: node bench/gateway-bare-http-proxy-3.js PORT UPSTREAM_URL
import { Agent, createServer } from 'node:http';
import process from 'node:process';
import { ProxyServer } from 'http-proxy-3';

const [port, upstream] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = new ProxyServer({ target: upstream, agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
createServer((req, res) => {
  proxy.web(req, res);
}).listen(Number(port), '127.0.0.1');
