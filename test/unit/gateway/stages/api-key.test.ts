import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import type { CompiledRoute, RouteTable } from '../../../../src/api/index.js';
import { createLogger } from '../../../../src/common/logger.js';
import { ApiKeyStore, consumerOf, parseKeySet } from '../../../../src/gateway/api-keys.js';
import { decodeSecretData } from '../../../../src/gateway/api-key-source.js';
import { GatewayMetrics } from '../../../../src/gateway/metrics.js';
import type { StageContext, StageServices } from '../../../../src/gateway/pipeline.js';
import { apiKeyStage, CONSUMER_HEADER } from '../../../../src/gateway/stages/api-key.js';
import type { ProxyPlan } from '../../../../src/gateway/plan.js';
import { RateLimits } from '../../../../src/gateway/rate-limits.js';
import type { Headers } from '../../../../src/gateway/transforms.js';
import type { ProxyEngine } from '../../../../src/gateway/engine.js';
import { ShadowRegistry } from '../../../../src/gateway/shadow/registry.js';
import { CacheRegistry } from '../../../../src/gateway/cache/registry.js';

const SECRET = 'orders-api-keys';
const KEYS = { alice: 'key-of-alice', bob: 'key-of-bob\n' };

function keySet(data: Record<string, string>) {
  const result = parseKeySet(data);
  if (!result.ok) throw new Error(result.message);
  return result.keys;
}

describe('parseKeySet and consumerOf', () => {
  const keys = keySet(KEYS);
  it.each([
    ['key-of-alice', 'alice'],
    ['key-of-bob', 'bob'],
    // A Secret made with --from-file ends in a newline; header values never carry one.
    ['  key-of-bob ', 'bob'],
    ['key-of-alic', undefined],
    ['key-of-alicee', undefined],
    ['KEY-OF-ALICE', undefined],
    ['alice', undefined],
    ['key-of-alice, key-of-bob', undefined],
    ['', undefined],
  ])('%j → %s', (presented, consumer) => {
    expect(consumerOf(keys, presented)).toBe(consumer);
  });

  it('keeps digests only, never the keys', () => {
    expect(JSON.stringify([...keys.byDigest.values()])).not.toContain('key-of-alice');
  });

  it.each([
    [{ alice: '' }, 'the key of consumer alice is empty'],
    [{ alice: ' \n' }, 'the key of consumer alice is empty'],
    [
      { alice: 'same', bob: 'same\n' },
      'consumers alice and bob have the same key; give each its own',
    ],
  ])('refuses %j', (data, message) => {
    expect(parseKeySet(data)).toEqual({ ok: false, message });
  });

  it('decodes base64 Secret data', () => {
    expect(decodeSecretData({ alice: Buffer.from('k1').toString('base64') })).toEqual({
      alice: 'k1',
    });
    expect(decodeSecretData(undefined)).toEqual({});
  });
});

const route = {
  name: 'orders',
  apiKey: { header: 'x-api-key', secretName: SECRET },
} as unknown as CompiledRoute;

function services(store: ApiKeyStore, metrics: GatewayMetrics, table: Partial<RouteTable> = {}) {
  const logger = createLogger({ component: 'test', silent: true });
  return {
    table: table as RouteTable,
    logger,
    accessLogger: logger,
    apiKeys: store,
    metrics,
    rateLimits: new RateLimits({ logger, metrics }),
    shadows: new ShadowRegistry({} as ProxyEngine, metrics),
    caches: new CacheRegistry({} as ProxyEngine, metrics),
    ownBackend: () => {
      throw new Error('the api-key stage sends nothing of its own');
    },
    engine: {} as ProxyEngine,
  } satisfies StageServices;
}

function context(headers: Record<string, string>): StageContext {
  const upstreamHeaders: Headers = { ...headers, [CONSUMER_HEADER]: 'spoofed' };
  return {
    plan: {} as ProxyPlan,
    req: { headers } as unknown as IncomingMessage,
    upstreamHeaders,
  };
}

async function count(metrics: GatewayMetrics, result: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('figway_gateway_auth_results_total')?.get();
  return (
    metric?.values.find((v) => v.labels.route === 'orders' && v.labels.result === result)?.value ??
    0
  );
}

describe('apiKeyStage', () => {
  const fresh = () => {
    const store = new ApiKeyStore();
    const metrics = new GatewayMetrics({
      inFlight: () => 0,
      websockets: () => 0,
      defaultMetrics: false,
    });
    return { store, metrics, stage: apiKeyStage(route, services(store, metrics)) };
  };

  it('is absent from routes without auth.apiKey', () => {
    const { store, metrics } = fresh();
    expect(
      apiKeyStage({ name: 'plain' } as CompiledRoute, services(store, metrics)),
    ).toBeUndefined();
    expect(apiKeyStage(undefined, services(store, metrics))).toBeUndefined();
  });

  it('guards unmatched traffic with spec.defaults', () => {
    const { store, metrics } = fresh();
    const table = { defaults: { apiKey: { header: 'x-key', secretName: SECRET } } };
    expect(apiKeyStage(undefined, services(store, metrics, table))?.name).toBe('api-key');
  });

  it.each([
    [{}, 401, 'api-key-missing', 'missing'],
    [{ 'x-api-key': '' }, 401, 'api-key-missing', 'missing'],
    [{ 'x-api-key': 'nope' }, 401, 'api-key-unknown', 'unknown'],
    [{ authorization: 'key-of-alice' }, 401, 'api-key-missing', 'missing'],
  ])('refuses %j with %i %s, counted as %s', async (headers, status, reason, result) => {
    const { store, metrics, stage } = fresh();
    store.ring(SECRET).keys = keySet(KEYS);
    const ctx = context(headers);
    const answer = stage?.onRequest?.(ctx);
    expect(answer).toMatchObject({ status, reason });
    expect(ctx.consumer).toBeUndefined();
    expect(await count(metrics, result)).toBe(1);
  });

  it('lets a known key through: the consumer goes upstream and on the context, the key does not', async () => {
    const { store, metrics, stage } = fresh();
    store.ring(SECRET).keys = keySet(KEYS);
    const ctx = context({ 'x-api-key': 'key-of-bob' });
    expect(stage?.onRequest?.(ctx)).toBeUndefined();
    expect(ctx.consumer).toBe('bob');
    expect(ctx.upstreamHeaders[CONSUMER_HEADER]).toBe('bob');
    expect(ctx.upstreamHeaders).not.toHaveProperty('x-api-key');
    expect(await count(metrics, 'ok')).toBe(1);
  });

  it('answers 503 until the Secret is read, then follows its changes without a rebuild', () => {
    const { store, stage } = fresh();
    expect(stage?.onRequest?.(context({ 'x-api-key': 'key-of-alice' }))).toMatchObject({
      status: 503,
      reason: 'api-keys-unavailable',
    });
    store.ring(SECRET).keys = keySet(KEYS);
    expect(stage?.onRequest?.(context({ 'x-api-key': 'key-of-alice' }))).toBeUndefined();
    store.ring(SECRET).keys = keySet({ alice: 'rotated' });
    expect(stage?.onRequest?.(context({ 'x-api-key': 'key-of-alice' }))).toMatchObject({
      status: 401,
    });
    expect(stage?.onRequest?.(context({ 'x-api-key': 'rotated' }))).toBeUndefined();
  });
});
