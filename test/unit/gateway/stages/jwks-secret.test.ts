// auth.jwt.jwksSecretRef: a JWKS read from a Secret's data key. The Secret's contents are
// parsed on arrival (parseJwks, readSecret), applied keeping the last good key set
// (applySecret), and the jwt stage verifies real signed tokens against the ring.
import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { CompiledRoute, SecretUse } from '../../../../src/api/index.js';
import { GatewayMetrics } from '../../../../src/gateway/metrics.js';
import type { Answer, StageContext } from '../../../../src/gateway/pipeline.js';
import type { ProxyPlan } from '../../../../src/gateway/plan.js';
import type { RuntimeBackend } from '../../../../src/gateway/runtime.js';
import { applySecret, readSecret } from '../../../../src/gateway/secret-source.js';
import { parseJwks, SecretStore } from '../../../../src/gateway/secret-store.js';
import { jwtStage } from '../../../../src/gateway/stages/jwt.js';
import { stageServices } from '../../../tools/stage-services.js';

const ISSUER = 'https://id.example.com';
const USE: SecretUse = { name: 'shop-jwks', apiKeys: false, jwksKeys: ['jwks.json'] };

async function signer(kid: string): Promise<{ key: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

function token(s: { key: CryptoKey; jwk: JWK }, exp: string | number = '5m'): Promise<string> {
  return new SignJWT({ sub: 'user-7' })
    .setProtectedHeader({ alg: 'ES256', kid: s.jwk.kid })
    .setIssuer(ISSUER)
    .setAudience('shop')
    .setExpirationTime(exp)
    .sign(s.key);
}

const jwksText = (...keys: JWK[]) => JSON.stringify({ keys });

describe('parseJwks', () => {
  it.each([
    [undefined, 'the key is missing'],
    ['{"keys": [', 'not JSON'],
    ['{"kty": "EC"}', 'not a JSON Web Key Set'],
    ['{"keys": []}', 'not a JSON Web Key Set'],
    ['{"keys": [{"kid": "a"}]}', 'keys[0] is not a JWK (no kty)'],
    ['{"keys": [{"kty": "EC", "d": "secret"}]}', 'keys[0] is a private key'],
  ])('refuses %j: %s', (text, message) => {
    const result = parseJwks(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(message);
  });

  it('reads only the keys the config uses, and no API keys from a JWKS Secret', () => {
    const contents = readSecret({ 'jwks.json': '{"keys": []}', other: 'x' }, USE);
    expect(contents.apiKeys).toBeUndefined();
    expect([...contents.jwks.keys()]).toEqual(['jwks.json']);
  });
});

describe('a jwt stage on a JWKS from a Secret', () => {
  const route = (clockSkewSeconds: number) => ({
    name: 'orders',
    jwt: {
      issuer: ISSUER,
      audiences: ['shop'],
      jwksSecretRef: { name: 'shop-jwks', key: 'jwks.json' },
      algorithms: ['ES256'],
      clockSkewSeconds,
      claimsToHeaders: [],
      requiredClaims: [],
      optional: false,
    },
  });

  const setup = (clockSkewSeconds = 30) => {
    const metrics = new GatewayMetrics({
      inFlight: () => 0,
      websockets: () => 0,
      defaultMetrics: false,
    });
    const store = new SecretStore();
    const stage = jwtStage(
      route(clockSkewSeconds) as unknown as CompiledRoute,
      stageServices(store, metrics),
    );
    const reports: string[] = [];
    const apply = (data: Record<string, string>) => {
      applySecret(store, 'shop/shop-jwks', 'shop-jwks', readSecret(data, USE), (m) =>
        reports.push(m),
      );
    };
    const check = async (jwt: string): Promise<Answer | undefined> => {
      const ctx: StageContext = {
        plan: {} as ProxyPlan,
        req: { headers: { authorization: `Bearer ${jwt}` } } as unknown as IncomingMessage,
        upstreamHeaders: {},
        backend: {} as RuntimeBackend,
      };
      return stage?.onRequest?.(ctx);
    };
    return { apply, check, reports };
  };

  it('answers 503 until the Secret held a JWKS, then verifies with it, following rotations', async () => {
    const [first, second] = await Promise.all([signer('k1'), signer('k2')]);
    const { apply, check } = setup();
    expect(await check(await token(first))).toMatchObject({
      status: 503,
      reason: 'jwt-jwks-unavailable',
    });
    apply({ 'jwks.json': jwksText(first.jwk) });
    expect(await check(await token(first))).toBeUndefined();
    apply({ 'jwks.json': jwksText(second.jwk) });
    expect(await check(await token(second))).toBeUndefined();
    expect(await check(await token(first))).toMatchObject({
      status: 401,
      reason: 'jwt-unknown-key',
    });
  });

  it('keeps the last good keys when the Secret turns broken, and says so', async () => {
    const good = await signer('k1');
    const { apply, check, reports } = setup();
    apply({ 'jwks.json': jwksText(good.jwk) });
    apply({ 'jwks.json': '{"keys": [' });
    apply({ other: 'the key is gone' });
    expect(await check(await token(good))).toBeUndefined();
    expect(reports).toEqual([
      expect.stringMatching(
        /^Secret shop\/shop-jwks key jwks.json holds no valid JWKS \(not JSON.*keeping the last good keys$/,
      ),
      'Secret shop/shop-jwks key jwks.json holds no valid JWKS (the key is missing); keeping the last good keys',
    ]);
  });

  it('reuses a verified token only until it expires', async () => {
    const good = await signer('k1');
    const { apply, check } = setup(0);
    apply({ 'jwks.json': jwksText(good.jwk) });
    const shortLived = await token(good, Math.floor(Date.now() / 1000) + 1);
    expect(await check(shortLived)).toBeUndefined();
    expect(await check(shortLived)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await check(shortLived)).toMatchObject({ status: 401, reason: 'jwt-expired' });
  });
});
