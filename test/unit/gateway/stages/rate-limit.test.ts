import { describe, expect, it } from '@jest/globals';
import {
  compileRateLimit,
  validateApiRoute,
  type ApiRouteInput,
  type CompiledRateLimit,
} from '../../../../src/api/index.js';
import type { StageContext } from '../../../../src/gateway/pipeline.js';
import type { ProxyPlan } from '../../../../src/gateway/plan.js';
import type { RuntimeBackend } from '../../../../src/gateway/runtime.js';
import { WindowLimiter } from '../../../../src/gateway/rate-limits.js';
import {
  rateLimitField,
  rateLimitKey,
  rateLimitPolicyField,
  tooManyRequests,
} from '../../../../src/gateway/stages/rate-limit.js';

function withRateLimit(rateLimit: unknown): ApiRouteInput {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy-shop', port: 8080 },
      routes: [
        {
          name: 'orders-api',
          match: { path: { type: 'PathPrefix', value: '/api/orders' } },
          backends: [{ monolith: true, weight: 100 }],
          rateLimit,
        } as never,
      ],
    },
  };
}

function errorsOf(rateLimit: unknown): string[] {
  const result = validateApiRoute(withRateLimit(rateLimit));
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('rateLimit validation', () => {
  const at = 'spec.routes[0].rateLimit';
  it.each([
    [{ requestsPerSecond: 100, burst: 200, key: 'clientIp', shared: true }, []],
    [{ requestsPerSecond: 0.5 }, []],
    [{ requestsPerSecond: 10, key: 'header:x-user-id' }, []],
    [{ requestsPerSecond: 10, key: 'claim:sub' }, []],
    [{ requestsPerSecond: 10, key: 'apiKey' }, []],
    [{ requestsPerSecond: 0 }, [`${at}.requestsPerSecond: must be greater than 0, got 0`]],
    [{ requestsPerSecond: -5 }, [`${at}.requestsPerSecond: must be greater than 0, got -5`]],
    [{ requestsPerSecond: 10, burst: 0 }, [`${at}.burst: must be greater than 0, got 0`]],
    [
      { requestsPerSecond: 10, burst: 5 },
      [`${at}.burst: must be at least requestsPerSecond (10), got 5`],
    ],
    [
      { requestsPerSecond: 10, key: 'cookie:session' },
      [
        `${at}.key: must be clientIp, apiKey, header:<header name> or claim:<claim name>, got "cookie:session"`,
      ],
    ],
    [
      { requestsPerSecond: 10, key: 'header:x y' },
      [
        `${at}.key: must be clientIp, apiKey, header:<header name> or claim:<claim name>, got "header:x y"`,
      ],
    ],
  ])('%j → %j', (rateLimit, expected) => {
    expect(errorsOf(rateLimit)).toEqual(expected);
  });
});

describe('compileRateLimit', () => {
  it.each([
    [
      { requestsPerSecond: 100, burst: 200, key: 'header:X-User-Id', shared: true },
      {
        requestsPerSecond: 100,
        burst: 200,
        key: { type: 'header', name: 'x-user-id' },
        shared: true,
      },
    ],
    [
      { requestsPerSecond: 2.5, key: 'claim:tenant:id', shared: false },
      {
        requestsPerSecond: 2.5,
        burst: 3,
        key: { type: 'claim', name: 'tenant:id' },
        shared: false,
      },
    ],
    [
      { requestsPerSecond: 1, key: 'apiKey', shared: false },
      { requestsPerSecond: 1, burst: 1, key: { type: 'apiKey' }, shared: false },
    ],
    [
      { requestsPerSecond: 1, key: 'clientIp', shared: false },
      { requestsPerSecond: 1, burst: 1, key: { type: 'clientIp' }, shared: false },
    ],
  ])('%j → %j', (limit, compiled) => {
    expect(compileRateLimit(limit)).toEqual(compiled);
  });
});

function context(
  headers: Record<string, string | string[]>,
  extra: Partial<StageContext> = {},
): StageContext {
  return {
    plan: { clientAddress: '192.0.2.7' } as ProxyPlan,
    req: {} as StageContext['req'],
    upstreamHeaders: headers,
    backend: {} as RuntimeBackend,
    ...extra,
  };
}

describe('rateLimitKey', () => {
  const header: CompiledRateLimit['key'] = { type: 'header', name: 'x-user-id' };
  it.each<[string, CompiledRateLimit['key'], StageContext, string]>([
    [
      'clientIp: the client address',
      { type: 'clientIp' },
      context({ 'x-user-id': 'u1' }),
      '192.0.2.7',
    ],
    ['header: its value', header, context({ 'x-user-id': 'u1' }), 'k:u1'],
    ['header sent twice: the first', header, context({ 'x-user-id': ['u1', 'u2'] }), 'k:u1'],
    ['header missing: the client address', header, context({}), '192.0.2.7'],
    ['header empty: the client address', header, context({ 'x-user-id': '' }), '192.0.2.7'],
    [
      'header naming an address: not that address budget',
      header,
      context({ 'x-user-id': '192.0.2.99' }),
      'k:192.0.2.99',
    ],
    [
      'claim: its value',
      { type: 'claim', name: 'sub' },
      context({}, { claims: { sub: 'alice' } }),
      'k:alice',
    ],
    ['numeric claim', { type: 'claim', name: 'uid' }, context({}, { claims: { uid: 42 } }), 'k:42'],
    [
      'object claim: the client address',
      { type: 'claim', name: 'sub' },
      context({}, { claims: { sub: { a: 1 } } }),
      '192.0.2.7',
    ],
    [
      'no claims (anonymous): the client address',
      { type: 'claim', name: 'sub' },
      context({}),
      '192.0.2.7',
    ],
    [
      'apiKey: the consumer',
      { type: 'apiKey' },
      context({}, { consumer: 'shop-app' }),
      'k:shop-app',
    ],
    ['apiKey without consumer: the client address', { type: 'apiKey' }, context({}), '192.0.2.7'],
  ])('%s', (_name, key, ctx, expected) => {
    expect(rateLimitKey(key, ctx)).toBe(expected);
  });
});

describe('RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10)', () => {
  const policy = (requestsPerSecond: number, burst: number): CompiledRateLimit => ({
    requestsPerSecond,
    burst,
    key: { type: 'clientIp' },
    shared: false,
  });

  it.each([
    [policy(100, 200), '"orders-api";q=200;w=2'],
    [policy(100, 250), '"orders-api";q=250;w=3'],
    [policy(0.5, 1), '"orders-api";q=1;w=2'],
  ])('policy %j → %s', (p, field) => {
    expect(rateLimitPolicyField('orders-api', p)).toBe(field);
  });

  it('quotes a policy name as an sf-string', () => {
    expect(rateLimitPolicyField('(unmatched)', policy(1, 1))).toBe('"(unmatched)";q=1;w=1');
  });

  it.each([
    [1, 1],
    [999, 1],
    [1001, 2],
    [0, 1],
  ])('429 after %d ms to the window end → Retry-After %d', (ms, seconds) => {
    const answer = tooManyRequests('orders-api', '"orders-api";q=2;w=1', ms);
    expect(answer).toMatchObject({
      status: 429,
      reason: 'rate-limited',
      headers: {
        'retry-after': String(seconds),
        'ratelimit-policy': '"orders-api";q=2;w=1',
        ratelimit: `"orders-api";r=0;t=${seconds}`,
      },
    });
  });
});

describe('WindowLimiter (per-replica budgets)', () => {
  it('admits burst requests per window per key, synchronously, and says what is left', () => {
    let now = 1000;
    const limiter = new WindowLimiter(2, 2000, () => now);
    expect(limiter.consume('a')).toEqual({ allowed: true, remaining: 1, resetMs: 2000 });
    now += 500;
    expect(limiter.consume('a')).toEqual({ allowed: true, remaining: 0, resetMs: 1500 });
    expect(limiter.consume('a')).toEqual({ allowed: false, remaining: 0, resetMs: 1500 });
    expect(limiter.consume('b').allowed).toBe(true);
    now += 1500;
    expect(limiter.consume('a')).toEqual({ allowed: true, remaining: 1, resetMs: 2000 });
  });

  it('forgets keys whose window ended, so memory holds one window of keys', () => {
    let now = 0;
    const limiter = new WindowLimiter(1, 1000, () => now);
    for (let i = 0; i < 500; i += 1) limiter.consume(`k${i}`);
    expect(limiter.size).toBe(500);
    now = 1000;
    limiter.consume('fresh');
    expect(limiter.size).toBe(1);
  });

  it('formats the RateLimit field of allowed answers: remaining and whole seconds to the reset', () => {
    expect(rateLimitField('orders-api', 7, 1200)).toBe('"orders-api";r=7;t=2');
    expect(rateLimitField('orders-api', 0, 0)).toBe('"orders-api";r=0;t=1');
  });
});
