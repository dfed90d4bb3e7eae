// JWT auth (the route's auth.jwt) against a real gateway, a real JWKS server on loopback and
// tokens signed here with jose: every refusal the issue lists is a 401 and counted, never
// a 500; claims reach the upstream as headers no client can forge; keys rotate; a JWKS
// outage keeps the last good keys.
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { close, listen } from '../../../src/common/net.js';
import { JWKS_COOLDOWN_MS } from '../../../src/gateway/stages/jwt.js';
import {
  apiRoute,
  LogLines,
  metricsOf,
  sample,
  send,
  startTestGateway,
  startUpstream,
  type TestGateway,
  type Upstream,
} from './helpers.js';

const ISSUER = 'https://id.example.com';

interface Signer {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(alg: string, kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

function sign(
  s: Signer,
  claims: Record<string, unknown> = {},
  opts: { aud?: string; iss?: string; exp?: number | string; nbf?: number | string } = {},
): Promise<string> {
  const jwt = new SignJWT({ sub: 'user-7', ...claims })
    .setProtectedHeader({ alg: s.alg, kid: s.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? 'orders')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(s.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('JWT auth', () => {
  let legacy: Upstream;
  let orders: Upstream;
  let gw: TestGateway;
  let jwks: Server;
  let served: JWK[] = [];
  let jwksDown = false;
  let jwksFetches = 0;
  let rsa: Signer;
  let ec: Signer;
  let ed: Signer;

  beforeAll(async () => {
    [rsa, ec, ed] = await Promise.all([
      signer('RS256', 'rsa-1'),
      signer('ES256', 'ec-1'),
      signer('EdDSA', 'ed-1'),
    ]);
    served = [rsa.jwk, ec.jwk, ed.jwk];
    jwks = createServer((req, res) => {
      jwksFetches += 1;
      if (jwksDown) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: served }));
    });
    const port = await listen(jwks, 0, '127.0.0.1');
    legacy = await startUpstream('legacy');
    orders = await startUpstream('orders');
    const jwt = `{ issuer: ${ISSUER}, audiences: [orders], jwksUri: http://127.0.0.1:${port}/jwks.json`;
    gw = await startTestGateway(
      apiRoute(
        `
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth:
        jwt: ${jwt}, claimsToHeaders: [{ claim: sub, header: x-user-id }] }
    - name: admin
      match: { path: { type: PathPrefix, value: /admin } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth:
        jwt: ${jwt}, requiredClaims: [{ claim: scope, values: [admin] }] }
    - name: maybe
      match: { path: { type: PathPrefix, value: /maybe } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth:
        jwt: ${jwt}, optional: true, claimsToHeaders: [{ claim: sub, header: x-user-id }] }
    - name: profile
      match: { path: { type: PathPrefix, value: /profile } }
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
      cohort: { claim: sub }
      auth:
        jwt: ${jwt}, optional: true }
    - name: public
      match: { path: { type: PathPrefix, value: /public } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth: {}
`,
        `  defaults:\n    auth:\n      jwt: ${jwt} }\n`,
      ),
      { legacy: legacy.url, orders: orders.url },
    );
  });
  afterAll(async () => {
    await gw.close();
    for (const u of [legacy, orders]) await u.close();
    jwks.closeAllConnections();
    await close(jwks);
  });

  const cleanups: (() => void)[] = [];
  function afterThis(cleanup: () => void): void {
    cleanups.push(cleanup);
  }
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    jwksDown = false;
  });

  function get(path: string, token?: string, headers: Record<string, string> = {}) {
    return send(`${gw.url}${path}`, {
      headers: { ...headers, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
    });
  }

  async function authCount(route: string, result: string): Promise<number> {
    return (
      sample(
        await metricsOf(gw),
        `figway_gateway_auth_results_total{route="${route}",policy="jwt",result="${result}"}`,
      ) ?? 0
    );
  }

  it.each(['RS256', 'ES256', 'EdDSA'])(
    'lets a valid %s token through, with sub as x-user-id replacing the client one',
    async (alg) => {
      const s = [rsa, ec, ed].find((x) => x.alg === alg) as Signer;
      const reply = await get('/api/orders/1', await sign(s), { 'x-user-id': 'forged' });
      expect(reply.status).toBe(200);
      expect(orders.seen.at(-1)?.headers['x-user-id']).toBe('user-7');
    },
  );

  it('answers 401 with WWW-Authenticate to a request without a token', async () => {
    const before = orders.seen.length;
    const reply = await get('/api/orders/1');
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="figway"');
    expect(reply.json().reason).toBe('jwt-missing');
    expect(orders.seen.length).toBe(before);
  });

  const hs256 = async () => {
    // HS256 signed with the RSA public key's modulus bytes: the classic key-confusion attack.
    const secret = Buffer.from(rsa.jwk.n as string, 'base64url');
    return new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .setIssuer(ISSUER)
      .setAudience('orders')
      .setExpirationTime('5m')
      .sign(secret);
  };
  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string>, string][] = [
    [
      'alg none',
      () =>
        Promise.resolve(
          `${b64({ alg: 'none' })}.${b64({ sub: 'x', iss: ISSUER, aud: 'orders' })}.`,
        ),
      'algorithm-not-allowed',
    ],
    ['HS256 against an RSA key', hs256, 'algorithm-not-allowed'],
    ['expired', () => sign(rsa, {}, { exp: now() - 120 }), 'expired'],
    ['not yet valid', () => sign(rsa, {}, { nbf: now() + 120 }), 'not-yet-valid'],
    ['a wrong audience', () => sign(rsa, {}, { aud: 'billing' }), 'wrong-audience'],
    ['a wrong issuer', () => sign(rsa, {}, { iss: 'https://evil.example' }), 'wrong-issuer'],
    ['oversized (> 8 KiB)', () => sign(rsa, { pad: 'x'.repeat(9000) }), 'oversized'],
    ['malformed base64', () => Promise.resolve('e30.!!!not-base64!!!.sig'), 'malformed'],
    ['not a JWT', () => Promise.resolve('opaque-token'), 'malformed'],
    [
      'a forged signature',
      async () => {
        const [h, p] = (await sign(rsa)).split('.');
        return `${h}.${p}.${(await sign(rsa, { sub: 'other' })).split('.')[2]}`;
      },
      'bad-signature',
    ],
    ['an unknown kid', async () => sign({ ...(await signer('ES256', 'nobody')) }), 'unknown-key'],
  ];

  it.each(cases)(
    'refuses a token that is %s with 401 and counts it',
    async (_what, make, result) => {
      const before = await authCount('orders', result);
      const reply = await get('/api/orders/1', await make());
      expect(reply.status).toBe(401);
      expect(reply.json().reason).toBe(`jwt-${result}`);
      expect(reply.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(await authCount('orders', result)).toBe(before + 1);
    },
  );

  it('applies spec.defaults to unmatched traffic, and auth: {} turns it off on a route', async () => {
    const before = await authCount('(unmatched)', 'missing');
    expect((await get('/legacy/page')).status).toBe(401);
    expect(await authCount('(unmatched)', 'missing')).toBe(before + 1);
    expect((await get('/legacy/page', await sign(ec))).status).toBe(200);
    expect((await get('/public/page')).status).toBe(200);
  });

  it('answers 403 when the requiredClaims are not met, 200 when they are', async () => {
    const denied = await get('/admin', await sign(rsa, { scope: 'orders:read' }));
    expect(denied.status).toBe(403);
    expect(denied.headers['www-authenticate']).toContain('insufficient_scope');
    expect((await get('/admin', await sign(rsa, { scope: 'orders:read admin' }))).status).toBe(200);
  });

  it('lets anonymous requests through an optional route, without a forged x-user-id, and still checks tokens', async () => {
    const anonymous = await get('/maybe', undefined, { 'x-user-id': 'forged' });
    expect(anonymous.status).toBe(200);
    expect(orders.seen.at(-1)?.headers['x-user-id']).toBeUndefined();
    expect((await get('/maybe', await sign(rsa, {}, { exp: now() - 120 }))).status).toBe(401);
    expect((await get('/maybe', await sign(ec))).status).toBe(200);
    expect(orders.seen.at(-1)?.headers['x-user-id']).toBe('user-7');
  });

  it('keeps a signed-in user on one side of a claim cohort, and splits anonymous requests at random', async () => {
    const sideOf = async (token?: string) => {
      const reply = await get('/profile', token);
      expect(reply.status).toBe(200);
      return reply.headers['x-figway-backend'] as string;
    };
    const sides = new Set<string>();
    for (let user = 0; user < 12; user += 1) {
      const token = await sign(ec, { sub: `user-${user}` });
      const seen = new Set<string>();
      for (let i = 0; i < 6; i += 1) seen.add(await sideOf(token));
      expect(seen.size).toBe(1);
      sides.add([...seen][0] as string);
    }
    expect([...sides].sort()).toEqual(['monolith', 'orders']);
    const anonymous = new Set<string>();
    for (let i = 0; i < 40 && anonymous.size < 2; i += 1) anonymous.add(await sideOf());
    expect([...anonymous].sort()).toEqual(['monolith', 'orders']);
  });

  it('picks up a rotated key on its unknown kid, and keeps the last good keys through a JWKS outage', async () => {
    const rotated = await signer('ES256', 'ec-2');
    served = [rotated.jwk];
    // Past the refetch cooldown (JWKS_COOLDOWN_MS) that the unknown-kid case above started.
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + JWKS_COOLDOWN_MS);
    afterThis(() => {
      clock.mockRestore();
    });
    expect((await get('/api/orders/1', await sign(rotated))).status).toBe(200);
    // The old keys left the set with the refetch.
    expect((await get('/api/orders/1', await sign(rsa))).status).toBe(401);

    jwksDown = true;
    const fetches = jwksFetches;
    for (let i = 0; i < 5; i += 1)
      expect((await get('/api/orders/1', await sign(rotated))).status).toBe(200);
    // Cached keys answer without a fetch; an unknown kid within the cooldown fetches nothing.
    expect((await get('/api/orders/1', await sign(await signer('ES256', 'ec-3')))).status).toBe(
      401,
    );
    expect(jwksFetches).toBe(fetches);
  });
});

describe('JWT auth with the JWKS in a Secret (auth.jwt.jwksSecretRef)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let good: Signer;
  const logs = new LogLines();

  beforeAll(async () => {
    good = await signer('ES256', 'secret-1');
    upstream = await startUpstream('orders');
    const jwt = (key: string) =>
      `{ issuer: ${ISSUER}, audiences: [orders], jwksSecretRef: { name: shop-jwks, key: ${key} } }`;
    gw = await startTestGateway(
      apiRoute(`
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth: { jwt: ${jwt('jwks.json')} }
    - name: broken
      match: { path: { type: PathPrefix, value: /broken } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      auth: { jwt: ${jwt('broken.json')} }
`),
      { legacy: upstream.url, orders: upstream.url },
      {
        secrets: {
          'shop-jwks': {
            'jwks.json': JSON.stringify({ keys: [good.jwk] }),
            'broken.json': '{"keys": [',
          },
        },
        logStream: logs,
      },
    );
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  it('verifies tokens with the keys the Secret holds, and refuses others', async () => {
    const ok = await send(`${gw.url}/api/orders/1`, {
      headers: { authorization: `Bearer ${await sign(good)}` },
    });
    expect(ok.status).toBe(200);
    const stranger = await signer('ES256', 'stranger');
    const refused = await send(`${gw.url}/api/orders/1`, {
      headers: { authorization: `Bearer ${await sign(stranger)}` },
    });
    expect(refused.status).toBe(401);
    expect(refused.json().reason).toBe('jwt-unknown-key');
  });

  it('answers 503 on a route whose Secret key holds no valid JWKS, and says why in a log line', async () => {
    const reply = await send(`${gw.url}/broken`, {
      headers: { authorization: `Bearer ${await sign(good)}` },
    });
    expect(reply.status).toBe(503);
    expect(reply.json().reason).toBe('jwt-jwks-unavailable');
    expect(logs.lines.map((l) => l.error)).toContainEqual(
      expect.stringContaining('shop-jwks key broken.json holds no valid JWKS (not JSON'),
    );
  });
});
