// Nanoseconds per call of the request-head and forwarding functions on typical input:
// `npm exec -- tsx bench/request-head.ts` (npm puts Node 24 first). One process, warmed
// up, best of five rounds; the reference rows put the figures in proportion on a busy box.
import {
  clientAddress,
  compileTrustedProxies,
  forwardedHeaders,
} from '../src/gateway/forwarded.js';
import { hostOf, normalizePath, parseRequestTarget } from '../src/gateway/request-head.js';

const ROUNDS = 5;
const CALLS = 2_000_000;
let sink = 0;

function measure(name: string, fn: () => unknown): void {
  for (let i = 0; i < CALLS / 10; i += 1) fn();
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i += 1) if (fn() !== undefined) sink += 1;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / CALLS);
  }
  console.log(`${name.padEnd(58)} ${best.toFixed(1).padStart(7)} ns/op`);
}

const rawHeaders = [
  'Host',
  'shop.example',
  'User-Agent',
  'curl/8.5.0',
  'Accept',
  '*/*',
  'X-Forwarded-For',
  '203.0.113.7',
  'X-Forwarded-Proto',
  'https',
  'X-Request-Id',
  'abc-123',
];
const incoming = {
  host: 'shop.example',
  'user-agent': 'curl/8.5.0',
  accept: '*/*',
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-request-id': 'abc-123',
};
const none = compileTrustedProxies([]);
const lb = compileTrustedProxies(['10.0.0.0/8', 'fd00::/8']);

measure('normalizePath /api/orders/12345/items (already normal)', () =>
  normalizePath('/api/orders/12345/items'),
);
measure('normalizePath /api/orders/../cart/%7e1 (slow way)', () =>
  normalizePath('/api/orders/../cart/%7e1'),
);
measure('parseRequestTarget /api/orders/12345?expand=items', () =>
  parseRequestTarget('/api/orders/12345?expand=items'),
);
measure('hostOf (6 headers)', () => hostOf(rawHeaders));
measure('clientAddress, no trusted proxies', () => clientAddress('10.0.0.2', '203.0.113.7', none));
measure('clientAddress, trusted peer, X-Forwarded-For of one', () =>
  clientAddress('10.0.0.2', '203.0.113.7', lb),
);
measure('clientAddress, trusted ::ffff: peer, two entries', () =>
  clientAddress('::ffff:10.0.0.2', '203.0.113.7, 10.0.0.9', lb),
);
measure('forwardedHeaders, untrusted peer', () => {
  const out = { ...incoming };
  forwardedHeaders(out, incoming, {
    peer: '203.0.113.9',
    encrypted: false,
    host: 'shop.example',
    trusted: lb,
  });
  return out;
});
measure('forwardedHeaders, trusted peer', () => {
  const out = { ...incoming };
  forwardedHeaders(out, incoming, {
    peer: '10.0.0.2',
    encrypted: false,
    host: 'shop.example',
    trusted: lb,
  });
  return out;
});
measure('(reference) { ...headers } copy alone', () => ({ ...incoming }));
measure(
  '(reference) new URL(path, base).pathname',
  () => new URL('/api/orders/12345/items', 'http://x').pathname,
);
if (sink === 0) console.log('');
