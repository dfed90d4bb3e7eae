// Response caching (issue 15) on a real gateway, with real upstreams on loopback and real
// clients: RFC 9111 as http-cache-semantics reads it, coalescing, stale answers, purges,
// config changes, memory bounds, and clients and upstreams that misbehave.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  apiRoute,
  eventually,
  metricsOf,
  RawClient,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const ROUTES = `
    - name: main
      match: { path: { type: PathPrefix, value: /c } }
      backends: [{ service: app, port: 80, weight: 100 }]
      cache: { ttl: 60s, maxBytes: 4Mi, maxBodyBytes: 1Mi, key: { headers: [x-tenant] } }
    - name: short
      match: { path: { type: PathPrefix, value: /s } }
      backends: [{ service: app, port: 80, weight: 100 }]
      cache: { ttl: 300ms, maxBytes: 1Mi }
    - name: small
      match: { path: { type: PathPrefix, value: /lru } }
      backends: [{ service: app, port: 80, weight: 100 }]
      cache: { maxBytes: 4Ki, maxBodyBytes: 1Ki }
    - name: users
      match: { path: { type: PathPrefix, value: /u } }
      backends: [{ service: app, port: 80, weight: 100 }]
      cache: { perUser: true, maxBytes: 1Mi }
    - name: keyed
      match: { path: { type: PathPrefix, value: /k } }
      backends: [{ service: app, port: 80, weight: 100 }]
      auth: { apiKey: { secretRef: { name: shop-keys } } }
      cache: { perUser: true, maxBytes: 1Mi }
    - name: gone
      match: { path: { type: PathPrefix, value: /g } }
      backends: [{ service: gone, port: 80, weight: 100 }]
      cache: { ttl: 300ms, maxBytes: 1Mi }
    - name: trickle
      match: { path: { type: PathPrefix, value: /t } }
      backends: [{ service: app, port: 80, weight: 100 }]
      timeout: 400ms
      cache: { maxBytes: 1Mi }
    - name: flaky
      match: { path: { type: PathPrefix, value: /f } }
      backends: [{ service: flaky, port: 80, weight: 100 }]
      cache: { ttl: 300ms, maxBytes: 1Mi }
`;
const PURGE = `  gateway:
    cachePurge: { tokenSecretRef: { name: purge-token, key: token } }
`;
const TOKEN = 'purge-me-7f3a';

/** Requests the app has answered, per URL. */
const answered = new Map<string, number>();

/** How the app answers each path (below the route prefix). */
function app(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const kind = url.pathname.split('/')[2] ?? '';
  const body = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      url: req.url,
      at: process.hrtime.bigint().toString(),
      lang: req.headers['accept-language'],
      ...extra,
    });
  const reply = (headers: Record<string, string | string[]>, text = body(), status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
  const count = (answered.get(req.url ?? '') ?? 0) + 1;
  answered.set(req.url ?? '', count);
  switch (kind) {
    case 'turns':
      // Cacheable once, then no longer.
      reply({
        'cache-control': count === 1 ? 'max-age=60, stale-while-revalidate=30' : 'no-store',
      });
      return;
    case 'public':
      reply({ 'cache-control': 'public, max-age=60' });
      return;
    case 'no-store':
      reply({ 'cache-control': 'no-store' });
      return;
    case 'private':
      reply({ 'cache-control': 'private, max-age=60' });
      return;
    case 'cookie':
      // public: http-cache-semantics alone would store it.
      reply({ 'cache-control': 'public, max-age=60', 'set-cookie': 'session=abc; HttpOnly' });
      return;
    case 'vary':
      reply({ 'cache-control': 'max-age=60', vary: 'Accept-Language' });
      return;
    case 'odd-vary':
      // One list, spelt three ways over two fields.
      reply({
        'cache-control': 'max-age=60',
        vary: ['Accept-Language ,  ACCEPT-language', ' accept-LANGUAGE'],
      });
      return;
    case 'huge-vary':
      reply({
        'cache-control': 'max-age=60',
        vary: Array.from({ length: 200 }, (_, i) => `x-h${i}`).join(', '),
      });
      return;
    case 'star-vary':
      reply({ 'cache-control': 'max-age=60', vary: '*' });
      return;
    case 'etag': {
      // Always stale, always revalidated: 304 when the client (the cache) has the tag.
      const tag = '"v1"';
      if (req.headers['if-none-match'] === tag) {
        res.writeHead(304, { etag: tag, 'cache-control': 'max-age=0' });
        res.end();
        return;
      }
      reply({ etag: tag, 'cache-control': 'max-age=0' });
      return;
    }
    case 'slow':
      setTimeout(() => {
        reply({ 'cache-control': 'max-age=60' });
      }, 200);
      return;
    case 'slow-no-store':
      setTimeout(() => {
        reply({ 'cache-control': 'no-store' });
      }, 200);
      return;
    case 'swr':
      reply({ 'cache-control': 'max-age=60, stale-while-revalidate=30' });
      return;
    case 'big':
      reply({ 'cache-control': 'max-age=60' }, 'x'.repeat(Number(url.searchParams.get('n'))));
      return;
    case 'big-chunked': {
      // No Content-Length: the size shows only as the body streams.
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      let left = Number(url.searchParams.get('n'));
      const chunk = Buffer.alloc(64 * 1024, 'y');
      while (left > 0) {
        res.write(chunk.subarray(0, Math.min(left, chunk.length)));
        left -= chunk.length;
      }
      res.end();
      return;
    }
    case 'trickle': {
      // A cacheable answer whose body takes 1.2 s, a chunk every 100 ms.
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write('z'.repeat(100));
        sent += 1;
        if (sent === 12) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      res.on('close', () => {
        clearInterval(timer);
      });
      return;
    }
    case 'item':
      reply({ 'cache-control': 'max-age=60' }, body({ pad: 'p'.repeat(600) }));
      return;
    default:
      reply({ 'cache-control': 'max-age=60' });
  }
}

/** Answers like app until `failing` says otherwise: then 503. */
let failing = false;
function flakyApp(req: IncomingMessage, res: ServerResponse): void {
  if (failing) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('down');
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json',
    'cache-control': 'max-age=60, stale-if-error=60',
  });
  res.end(JSON.stringify({ url: req.url, at: process.hrtime.bigint().toString() }));
}

function seenOf(upstream: Upstream, url: string) {
  return upstream.seen.filter((s) => s.url === url);
}

async function cacheCount(gw: TestGateway, route: string, result: string): Promise<number> {
  const text = await metricsOf(gw);
  return (
    sample(text, `figway_gateway_cache_requests_total{route="${route}",result="${result}"}`) ?? 0
  );
}

describe('response caching', () => {
  let legacy: Upstream;
  let upstream: Upstream;
  let flaky: Upstream;
  let gone: Upstream;
  let gw: TestGateway;
  let n = 0;
  /** A path no other test has used, so each test starts with a cold cache. */
  const fresh = (prefix: string) => `${prefix}-${(n += 1)}`;
  /** Asks twice for an answer of this kind: both go upstream. */
  const expectNeverStored = async (kind: string) => {
    const url = fresh(`/c/${kind}/x`);
    await send(`${gw.url}${url}`);
    const second = await send(`${gw.url}${url}`);
    expect(second.headers['x-figway-cache']).toBe('miss');
    expect(seenOf(upstream, url)).toHaveLength(2);
  };

  beforeAll(async () => {
    legacy = await startUpstream('legacy');
    upstream = await startUpstream('app', app);
    flaky = await startUpstream('flaky', flakyApp);
    gone = await startUpstream('gone', flakyApp);
    gw = await startTestGateway(
      apiRoute(ROUTES, PURGE),
      { legacy: legacy.url, app: upstream.url, flaky: flaky.url, gone: gone.url },
      {
        secrets: {
          'purge-token': { token: TOKEN },
          'shop-keys': { alice: 'key-alice', bob: 'key-bob' },
        },
      },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, upstream, flaky]) await u.close();
    if (gone.server.listening) await gone.close();
  });
  beforeEach(() => {
    failing = false;
  });

  it('serves a second GET from the cache with Age and x-figway-cache: hit, and HEAD from the same entry', async () => {
    const url = fresh('/c/public/a');
    const first = await send(`${gw.url}${url}`);
    expect(first.status).toBe(200);
    expect(first.headers['x-figway-cache']).toBe('miss');
    expect(first.headers['x-figway-backend']).toBe('app');
    const second = await send(`${gw.url}${url}`);
    expect(second.headers['x-figway-cache']).toBe('hit');
    expect(second.headers['x-figway-backend']).toBe('app');
    expect(second.headers.age).toMatch(/^\d+$/);
    expect(second.headers['cache-control']).toBe('public, max-age=60');
    expect(second.body).toBe(first.body);
    const head = await send(`${gw.url}${url}`, { method: 'HEAD' });
    expect(head.headers['x-figway-cache']).toBe('hit');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(first.body)));
    expect(head.body).toBe('');
    expect(seenOf(upstream, url)).toHaveLength(1);
  });

  it('keys on the query and the configured headers', async () => {
    const path = fresh('/c/public/q');
    await send(`${gw.url}${path}?a=1`);
    await send(`${gw.url}${path}?a=2`);
    await send(`${gw.url}${path}?a=1`, { headers: { 'x-tenant': 'blue' } });
    const again = await send(`${gw.url}${path}?a=1`);
    expect(again.headers['x-figway-cache']).toBe('hit');
    expect(upstream.seen.filter((s) => s.url.startsWith(path))).toHaveLength(3);
  });

  it('never stores no-store, private or Set-Cookie answers', async () => {
    for (const kind of ['no-store', 'private', 'cookie']) await expectNeverStored(kind);
  });

  it('keeps one entry per Vary variant, whatever the spelling of Vary', async () => {
    for (const kind of ['vary', 'odd-vary']) {
      const url = fresh(`/c/${kind}/x`);
      const en = await send(`${gw.url}${url}`, { headers: { 'accept-language': 'en' } });
      const de = await send(`${gw.url}${url}`, { headers: { 'accept-language': 'de' } });
      expect(de.json()).toMatchObject({ lang: 'de' });
      const enAgain = await send(`${gw.url}${url}`, { headers: { 'accept-language': 'en' } });
      const deAgain = await send(`${gw.url}${url}`, { headers: { 'accept-language': 'de' } });
      expect(enAgain.headers['x-figway-cache']).toBe('hit');
      expect(enAgain.body).toBe(en.body);
      expect(deAgain.body).toBe(de.body);
      expect(seenOf(upstream, url)).toHaveLength(2);
    }
  });

  it('as an attacker: a Vary of 200 names or Vary: * is never stored', async () => {
    for (const kind of ['huge-vary', 'star-vary']) await expectNeverStored(kind);
  });

  it('bypasses requests with Authorization on a route without perUser', async () => {
    const url = fresh('/c/public/auth');
    const bypassed = await cacheCount(gw, 'main', 'bypass');
    await send(`${gw.url}${url}`, { headers: { authorization: 'Bearer alice' } });
    const second = await send(`${gw.url}${url}`, { headers: { authorization: 'Bearer alice' } });
    expect(second.headers['x-figway-cache']).toBe('miss');
    expect(seenOf(upstream, url)).toHaveLength(2);
    // Nor did an authorised answer land where anonymous requests look.
    const anonymous = await send(`${gw.url}${url}`);
    expect(anonymous.headers['x-figway-cache']).toBe('miss');
    expect(await cacheCount(gw, 'main', 'bypass')).toBe(bypassed + 2);
  });

  it('with perUser, caches explicitly public answers per user and private ones never', async () => {
    const url = fresh('/u/public/me');
    const alice = { authorization: 'Bearer alice' };
    const first = await send(`${gw.url}${url}`, { headers: alice });
    const again = await send(`${gw.url}${url}`, { headers: alice });
    expect(again.headers['x-figway-cache']).toBe('hit');
    expect(again.body).toBe(first.body);
    const bob = await send(`${gw.url}${url}`, { headers: { authorization: 'Bearer bob' } });
    expect(bob.headers['x-figway-cache']).toBe('miss');
    const nobody = await send(`${gw.url}${url}`);
    expect(nobody.headers['x-figway-cache']).toBe('miss');
    expect(seenOf(upstream, url)).toHaveLength(3);

    // Authorization and a response that is not explicitly public: not stored (RFC 9111 §3.5).
    const plain = fresh('/u/default/me');
    await send(`${gw.url}${plain}`, { headers: alice });
    expect((await send(`${gw.url}${plain}`, { headers: alice })).headers['x-figway-cache']).toBe(
      'miss',
    );
    const privateUrl = fresh('/u/private/me');
    await send(`${gw.url}${privateUrl}`, { headers: alice });
    await send(`${gw.url}${privateUrl}`, { headers: alice });
    expect(seenOf(upstream, privateUrl)).toHaveLength(2);
  });

  it('never lets a hit skip auth, and keeps API-key consumers apart', async () => {
    const url = fresh('/k/public/me');
    const alice = { 'x-api-key': 'key-alice' };
    const first = await send(`${gw.url}${url}`, { headers: alice });
    expect(first.status).toBe(200);
    expect((await send(`${gw.url}${url}`, { headers: alice })).headers['x-figway-cache']).toBe(
      'hit',
    );
    expect((await send(`${gw.url}${url}`)).status).toBe(401);
    expect((await send(`${gw.url}${url}`, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
    const bob = await send(`${gw.url}${url}`, { headers: { 'x-api-key': 'key-bob' } });
    expect(bob.headers['x-figway-cache']).toBe('miss');
    expect(seenOf(upstream, url)).toHaveLength(2);
  });

  it('revalidates with If-None-Match and serves the kept body on 304', async () => {
    const url = fresh('/c/etag/x');
    const first = await send(`${gw.url}${url}`);
    const before = await cacheCount(gw, 'main', 'revalidated');
    const second = await send(`${gw.url}${url}`);
    expect(second.status).toBe(200);
    expect(second.body).toBe(first.body);
    expect(second.headers['x-figway-cache']).toBe('hit');
    const seen = seenOf(upstream, url);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.headers['if-none-match']).toBe('"v1"');
    expect(await cacheCount(gw, 'main', 'revalidated')).toBe(before + 1);
    // A client's own validator is not the cache's: the 304 must speak of the kept entry.
    const third = await send(`${gw.url}${url}`, { headers: { 'if-none-match': '"v0"' } });
    expect(third.status).toBe(200);
    expect(third.body).toBe(first.body);
    expect(seenOf(upstream, url)[2]?.headers['if-none-match']).toBe('"v1"');
  });

  it('coalesces concurrent misses for one key into one upstream request', async () => {
    const url = fresh('/c/slow/x');
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => send(`${gw.url}${url}`, { agent: false })),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.body)).size).toBe(1);
    expect(seenOf(upstream, url)).toHaveLength(1);
  });

  it('lets waiting requests wait at most half the route timeout for the first', async () => {
    const url = fresh('/t/trickle/x');
    const leader = send(`${gw.url}${url}`, { agent: false });
    await eventually(() => {
      expect(seenOf(upstream, url)).toHaveLength(1);
    });
    const started = Date.now();
    const followers = await Promise.all(
      [1, 2].map(() => send(`${gw.url}${url}`, { agent: false })),
    );
    expect(followers.map((r) => r.body.length)).toEqual([1200, 1200]);
    // Released after 200 ms rather than when the leader's 1.2 s body ended: upstream too.
    expect(seenOf(upstream, url)).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
    expect((await leader).body).toHaveLength(1200);
  });

  it('lets the waiting requests go upstream when the first answer is not storable', async () => {
    const url = fresh('/c/slow-no-store/x');
    const replies = await Promise.all(
      Array.from({ length: 4 }, () => send(`${gw.url}${url}`, { agent: false })),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(seenOf(upstream, url)).toHaveLength(4);
  });

  it('serves stale within stale-while-revalidate and refreshes in the background', async () => {
    const url = fresh('/s/swr/x');
    const first = await send(`${gw.url}${url}`);
    await new Promise((r) => setTimeout(r, 400));
    const stale = await send(`${gw.url}${url}`);
    expect(stale.headers['x-figway-cache']).toBe('hit');
    expect(stale.body).toBe(first.body);
    await eventually(() => {
      expect(seenOf(upstream, url)).toHaveLength(2);
    });
    await eventually(async () => {
      const refreshed = await send(`${gw.url}${url}`);
      expect(refreshed.headers['x-figway-cache']).toBe('hit');
      expect(refreshed.body).not.toBe(first.body);
    });
    expect(await cacheCount(gw, 'short', 'stale')).toBeGreaterThanOrEqual(1);
  });

  it('drops a stale entry when its refresh says it may no longer be stored', async () => {
    const url = fresh('/s/turns/x');
    await send(`${gw.url}${url}`);
    await new Promise((r) => setTimeout(r, 400));
    expect((await send(`${gw.url}${url}`)).headers['x-figway-cache']).toBe('hit');
    await eventually(() => {
      expect(seenOf(upstream, url)).toHaveLength(2);
    });
    await eventually(async () => {
      expect((await send(`${gw.url}${url}`)).headers['x-figway-cache']).toBe('miss');
    });
  });

  it('serves stale within stale-if-error when the upstream answers 5xx', async () => {
    const url = fresh('/f/x');
    const first = await send(`${gw.url}${url}`);
    failing = true;
    await new Promise((r) => setTimeout(r, 400));
    const stale = await send(`${gw.url}${url}`);
    expect(stale.status).toBe(200);
    expect(stale.body).toBe(first.body);
    expect(stale.headers['x-figway-cache']).toBe('hit');
    // Without a stored copy there is nothing to fall back on: the 503 goes through.
    expect((await send(`${gw.url}${fresh('/f/y')}`)).status).toBe(503);
  });

  it('serves stale within stale-if-error when the upstream is down', async () => {
    const url = fresh('/g/x');
    const first = await send(`${gw.url}${url}`);
    expect(first.status).toBe(200);
    await gone.close();
    await new Promise((r) => setTimeout(r, 400));
    const stale = await send(`${gw.url}${url}`);
    expect(stale.status).toBe(200);
    expect(stale.body).toBe(first.body);
    expect((await send(`${gw.url}${fresh('/g/y')}`)).status).toBe(502);
  });

  it('as an attacker: a body over maxBodyBytes streams through whole and uncached', async () => {
    // Over main's maxBodyBytes (1Mi), well within its maxBytes (4Mi).
    const size = 1536 * 1024;
    for (const kind of ['big', 'big-chunked']) {
      const url = `${fresh(`/c/${kind}/x`)}?n=${size}`;
      const before = sample(await metricsOf(gw), 'figway_gateway_cache_bytes{route="main"}') ?? 0;
      const first = await send(`${gw.url}${url}`);
      expect(first.body).toHaveLength(size);
      const second = await send(`${gw.url}${url}`);
      expect(second.body).toHaveLength(size);
      expect(second.headers['x-figway-cache']).toBe('miss');
      expect(seenOf(upstream, url)).toHaveLength(2);
      const after = sample(await metricsOf(gw), 'figway_gateway_cache_bytes{route="main"}') ?? 0;
      expect(after - before).toBeLessThan(1024 * 1024);
    }
  });

  it('evicts the least recently used entries to stay within maxBytes', async () => {
    const urls = Array.from({ length: 8 }, () => fresh('/lru/item/x'));
    for (const url of urls) await send(`${gw.url}${url}`);
    const bytes = sample(await metricsOf(gw), 'figway_gateway_cache_bytes{route="small"}') ?? -1;
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(4096);
    expect((await send(`${gw.url}${urls[7] ?? ''}`)).headers['x-figway-cache']).toBe('hit');
    expect((await send(`${gw.url}${urls[0] ?? ''}`)).headers['x-figway-cache']).toBe('miss');
  });

  it('as an attacker: a client that vanishes mid-hit leaves the entry and the gateway serving', async () => {
    const url = fresh('/c/big/x');
    const target = `${url}?n=${512 * 1024}`;
    await send(`${gw.url}${target}`);
    for (let i = 0; i < 5; i += 1) {
      const client = await RawClient.connect(gw.port);
      client.write(`GET ${target} HTTP/1.1\r\nhost: 127.0.0.1:${gw.port}\r\n\r\n`);
      await client.status();
      client.destroy();
    }
    const after = await send(`${gw.url}${target}`);
    expect(after.headers['x-figway-cache']).toBe('hit');
    expect(after.body).toHaveLength(512 * 1024);
    expect(seenOf(upstream, target)).toHaveLength(1);
  });

  it('purges one target or a whole route through the admin port, only with the token', async () => {
    const a = fresh('/c/public/purge');
    const b = fresh('/c/public/purge');
    for (const url of [a, `${a}?v=1`, b]) await send(`${gw.url}${url}`);
    const purge = (query: string, token?: string) =>
      send(`${gw.adminUrl}/cache/purge?${query}`, {
        method: 'POST',
        ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
      });
    expect((await purge('route=main')).status).toBe(401);
    expect((await purge('route=main', 'wrong')).status).toBe(401);
    expect((await purge('route=nope', TOKEN)).status).toBe(404);
    // The path as a client spells it: normalised as requests are.
    const one = await purge(
      `route=main&path=${encodeURIComponent(a.replace('/c/', '/c/./'))}`,
      TOKEN,
    );
    expect(one.status).toBe(200);
    expect(one.json()).toMatchObject({ route: 'main', purged: 2 });
    expect((await send(`${gw.url}${a}`)).headers['x-figway-cache']).toBe('miss');
    expect((await send(`${gw.url}${b}`)).headers['x-figway-cache']).toBe('hit');
    const all = await purge('route=main', TOKEN);
    expect(all.json<{ purged: number }>().purged).toBeGreaterThan(1);
    expect((await send(`${gw.url}${b}`)).headers['x-figway-cache']).toBe('miss');
  });

  it('drops the entries of a route a config change touches, and keeps the others', async () => {
    const main = fresh('/c/public/reload');
    const users = fresh('/u/public/reload');
    await send(`${gw.url}${main}`);
    await send(`${gw.url}${users}`);
    const hash = gw.gateway.hash;
    gw.writeConfig(apiRoute(ROUTES.replace('ttl: 60s', 'ttl: 59s'), PURGE));
    await eventually(() => {
      expect(gw.gateway.hash).not.toBe(hash);
    });
    expect((await send(`${gw.url}${main}`)).headers['x-figway-cache']).toBe('miss');
    expect((await send(`${gw.url}${users}`)).headers['x-figway-cache']).toBe('hit');
  });
});

describe('spec.defaults.cache, without a purge token', () => {
  let legacy: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream('legacy', app);
    const routes = `
    - name: own
      match: { path: { type: PathPrefix, value: /own } }
      backends: [{ service: legacy, port: 8080, weight: 100 }]
`;
    gw = await startTestGateway(apiRoute(routes, '  defaults:\n    cache: { maxBytes: 1Mi }\n'), {
      legacy: legacy.url,
    });
  });
  afterAll(async () => {
    await gw.close();
    await legacy.close();
  });

  it('caches unmatched traffic and routes without a cache of their own', async () => {
    for (const url of ['/x/public/unmatched', '/own/public/inherited']) {
      const first = await send(`${gw.url}${url}`);
      expect(first.headers['x-figway-cache']).toBe('miss');
      const hit = await send(`${gw.url}${url}`);
      expect(hit.headers['x-figway-cache']).toBe('hit');
      expect(hit.headers['x-figway-backend']).toBe(first.headers['x-figway-backend']);
      expect(seenOf(legacy, url)).toHaveLength(1);
    }
  });

  it('refuses purges', async () => {
    const refused = await send(`${gw.adminUrl}/cache/purge?route=own`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(refused.status).toBe(403);
    expect(refused.json<{ error: string }>().error).toContain('spec.gateway.cachePurge');
  });
});
