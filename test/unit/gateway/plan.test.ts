import { GrpcChannels } from '../../../src/gateway/grpc/channels.js';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../../src/common/logger.js';
import { routeTableFromYaml } from '../../../src/gateway/config-source.js';
import type { ProxyEngine } from '../../../src/gateway/engine.js';
import { RateLimits } from '../../../src/gateway/rate-limits.js';
import { SecretStore } from '../../../src/gateway/secret-store.js';
import { GatewayMetrics } from '../../../src/gateway/metrics.js';
import type { StageContext } from '../../../src/gateway/pipeline.js';
import {
  chooseBackend,
  planRequest,
  upstreamPath,
  type ProxyPlan,
  type RequestHead,
} from '../../../src/gateway/plan.js';
import { buildRuntime } from '../../../src/gateway/runtime.js';
import { ShadowRegistry } from '../../../src/gateway/shadow/registry.js';
import { CacheRegistry } from '../../../src/gateway/cache/registry.js';

const YAML = `
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: shop, namespace: shop }
spec:
  monolith: { url: http://legacy.example:8080/base }
  routes:
    - name: cart
      match: { path: { type: PathPrefix, value: /api/cart } }
      backends: [{ url: http://cart.example, weight: 100 }]
      rewrite: { pathPrefix: /cart }
    - name: orders
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends:
        - { url: http://orders.example, weight: 30 }
        - { monolith: true, weight: 70 }
      cohort: { header: x-user-id }
      overrideHeader: x-force
      requestHeaders: { set: { x-from: figway } }
    - name: profile
      match: { path: { type: PathPrefix, value: /api/profile } }
      backends:
        - { url: http://profile.example, weight: 50 }
        - { monolith: true, weight: 50 }
      cohort: { claim: sub }
      auth:
        jwt:
          issuer: https://id.example.com
          audiences: [shop]
          jwksUri: https://id.example.com/jwks.json
          optional: true
`;

const engine: ProxyEngine = {
  name: 'none',
  createPool: () => ({ close: () => Promise.resolve() }),
  send: () => {
    throw new Error('plans never send');
  },
  capture: () => {
    throw new Error('plans never send');
  },
};
const logger = createLogger({ component: 'test', silent: true });
const table = routeTableFromYaml(YAML, 'plan.yaml');
const metrics = new GatewayMetrics({
  inFlight: () => 0,
  websockets: () => 0,
  defaultMetrics: false,
});
const runtime = buildRuntime(table, table.hash, engine, metrics, new Map(), {
  logger,
  accessLogger: logger,
  shadows: new ShadowRegistry(engine, metrics),
  caches: new CacheRegistry(engine, metrics),
  rateLimits: new RateLimits({ logger, metrics }),
  secrets: new SecretStore(),
  grpcChannels: new GrpcChannels(),
});

function head(url: string, headers: Record<string, string> = {}, method = 'GET'): RequestHead {
  const all = { host: 'shop.example', ...headers };
  return {
    method,
    url,
    headers: all,
    rawHeaders: Object.entries(all).flat(),
    peer: '192.0.2.7',
    encrypted: false,
    requestId: 'req-1',
    random: 0.5,
  };
}

function proxied(url: string, headers?: Record<string, string>): ProxyPlan {
  const plan = planRequest(runtime, head(url, headers));
  if (plan.kind !== 'proxy') throw new Error(`expected a proxy plan, got ${plan.status}`);
  return plan;
}

describe('the plan of a request', () => {
  it.each([
    ['/products', '(unmatched)', 'monolith', '/base/products'],
    ['/', '(unmatched)', 'monolith', '/base/'],
    ['/?q=1', '(unmatched)', 'monolith', '/base/?q=1'],
    ['/api/cart/7?x=1', 'cart', 'cart.example', '/cart/7?x=1'],
    ['/api/cart', 'cart', 'cart.example', '/cart'],
    ['/api/cartoons', '(unmatched)', 'monolith', '/base/api/cartoons'],
  ])('%s → route %s, backend %s, upstream %s', (url, route, backend, upstream) => {
    const plan = proxied(url);
    expect(plan.route.name).toBe(route);
    expect(plan.backend.name).toBe(backend);
    expect(upstreamPath(plan, plan.backend)).toBe(upstream);
  });

  it('forwards under the base path of whichever backend serves, so a fallback stays on the matched path', () => {
    const plan = proxied('/api/orders/9', { 'x-force': 'new' });
    expect(plan.backend.name).toBe('orders.example');
    expect(upstreamPath(plan, plan.route.monolith)).toBe('/base/api/orders/9');
  });

  it('keeps a cohort on one side and lets the override header pick one', () => {
    const sides = new Set<string>();
    for (let i = 0; i < 5; i += 1)
      sides.add(proxied('/api/orders', { 'x-user-id': 'alice' }).backend.name);
    expect(sides.size).toBe(1);
    expect(proxied('/api/orders', { 'x-force': 'monolith' }).backend.name).toBe('monolith');
    expect(proxied('/api/orders', { 'x-force': 'new' }).backend.name).toBe('orders.example');
  });

  it('builds the upstream headers: no hop-by-hop, the request id, X-Forwarded-For with the peer', () => {
    const plan = proxied('/api/cart', {
      connection: 'keep-alive, x-secret',
      'x-secret': 'hop',
      'keep-alive': 'timeout=5',
      'x-request-id': 'ignored',
    });
    expect(plan.headers).not.toHaveProperty('connection');
    expect(plan.headers).not.toHaveProperty('x-secret');
    expect(plan.headers).not.toHaveProperty('keep-alive');
    expect(plan.headers['x-request-id']).toBe('req-1');
    expect(plan.headers['x-forwarded-for']).toBe('192.0.2.7');
    // Route header modifiers are a stage of the route's pipeline, not part of the plan.
    expect(plan.headers).not.toHaveProperty('x-from');
    expect(plan.pipeline.names).toEqual([]);
    expect(proxied('/api/orders').pipeline.names).toEqual(['request-headers']);
  });

  it('answers OPTIONS * itself and refuses * with any other method', () => {
    expect(planRequest(runtime, head('*', {}, 'OPTIONS'))).toMatchObject({
      kind: 'answer',
      status: 204,
    });
    expect(planRequest(runtime, head('*', {}, 'GET'))).toMatchObject({
      kind: 'answer',
      status: 400,
      reason: 'bad-target',
    });
  });
});

describe('no spelling of a path escapes the route that matched it', () => {
  // Each path is planned the way it is forwarded: the matched path, rewritten, is what the
  // upstream gets, so a route's policies cover every request that reaches its backend.
  it.each([
    ['/api/cart/../orders/1', 'orders', '/api/orders/1'],
    ['/api/orders/../cart/x', 'cart', '/cart/x'],
    ['/api/%63art/x', 'cart', '/cart/x'],
    ['/api/cart/%2e%2e/orders', 'orders', '/api/orders'],
    ['/api/./cart', 'cart', '/cart'],
    ['//api//cart', 'cart', '/cart'],
    ['/products/../api/cart', 'cart', '/cart'],
  ])('%s is planned as route %s and forwarded as %s', (url, route, forwarded) => {
    const plan = proxied(url);
    expect(plan.route.name).toBe(route);
    expect(plan.forwardTarget).toBe(forwarded);
  });

  it.each([
    ['/../etc/passwd', 'bad-path'],
    ['/api/cart/%2e%2e/%2e%2e/%2e%2e/x', 'bad-path'],
    ['/api/cart#frag', 'bad-target'],
    ['/api/cart/%zz', 'bad-path'],
  ])('%s is refused with 400 (%s)', (url, reason) => {
    expect(planRequest(runtime, head(url))).toMatchObject({ kind: 'answer', status: 400, reason });
  });

  it('keeps %2F inside a segment: it never splits one', () => {
    const plan = proxied('/api/cart/a%2Fb');
    expect(plan.route.name).toBe('cart');
    expect(plan.forwardTarget).toBe('/cart/a%2Fb');
  });

  it('routes an absolute-form target by its path, never by its authority', () => {
    const plan = proxied('http://evil.example/api/cart/1?x=2');
    expect(plan.route.name).toBe('cart');
    expect(plan.forwardTarget).toBe('/cart/1?x=2');
    expect(plan.host).toBe('shop.example');
    expect(plan.headers['x-forwarded-host']).toBe('shop.example');
  });

  it('refuses a duplicate or invalid Host, never copying it into X-Forwarded-Host', () => {
    const twice: RequestHead = {
      ...head('/api/cart'),
      rawHeaders: ['Host', 'shop.example', 'Host', 'evil.example'],
    };
    expect(planRequest(runtime, twice)).toMatchObject({ status: 400, reason: 'bad-host' });
    expect(planRequest(runtime, head('/api/cart', { host: 'a b' }))).toMatchObject({
      status: 400,
      reason: 'bad-host',
    });
  });
});

describe('a cohort keyed on a JWT claim', () => {
  const route = () => proxied('/api/profile').route;
  const side = (claims: Record<string, unknown> | undefined, random: number) =>
    chooseBackend(route(), {}, '192.0.2.7', random, claims).name;

  it('keeps a user on one side whatever the entropy, and spreads users over both', () => {
    const sides = new Set<string>();
    for (let user = 0; user < 40; user += 1) {
      const first = side({ sub: `user-${user}` }, 0.01);
      expect(side({ sub: `user-${user}` }, 0.99)).toBe(first);
      sides.add(first);
    }
    expect([...sides].sort()).toEqual(['monolith', 'profile.example']);
  });

  it('splits requests without the claim (anonymous, or a claim that is no string) at random', () => {
    for (const claims of [undefined, {}, { sub: '' }, { sub: { id: 1 } }]) {
      expect(side(claims, 0.01)).toBe('profile.example');
      expect(side(claims, 0.99)).toBe('monolith');
    }
  });

  it('is chosen by a stage right after the jwt stage, which moves the request to the claim side', async () => {
    const plan = proxied('/api/profile');
    expect(plan.pipeline.names).toEqual(['jwt', 'claim-cohort']);
    const stage = plan.pipeline.request[1];
    // A user whose point is above 50: the monolith, whatever the plan's random choice was.
    const user = Array.from({ length: 50 }, (_, i) => `user-${i}`).find(
      (sub) => side({ sub }, 0.01) === 'monolith',
    );
    const ctx: StageContext = {
      plan,
      req: { headers: {} } as StageContext['req'],
      upstreamHeaders: plan.headers,
      backend: plan.route.backends[0] as StageContext['backend'],
      claims: { sub: user },
    };
    expect(await stage?.onRequest?.(ctx)).toBeUndefined();
    expect(ctx.backend.name).toBe('monolith');
  });
});
