import { describe, expect, it } from '@jest/globals';
import { compileTrustedProxies } from '../../../src/gateway/forwarded.js';
import {
  applyHeaderModifier,
  endToEndHeaders,
  hasBody,
  planRewrite,
  requestId,
  upstreamRequestHeaders,
  rewritePath,
  type Headers,
} from '../../../src/gateway/transforms.js';

const ctx = {
  peer: '10.0.0.9',
  encrypted: false,
  host: 'shop.example',
  trusted: compileTrustedProxies([]),
  requestId: 'rid-1',
};

describe('request headers sent upstream', () => {
  it('drops hop-by-hop headers, including those named in Connection', () => {
    const out = endToEndHeaders({
      connection: 'keep-alive, x-private',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'h2c',
      'proxy-connection': 'keep-alive',
      'x-private': 'secret',
      'x-public': 'ok',
      expect: '100-continue',
    });
    expect(out).toEqual({ 'x-public': 'ok' });
  });

  it('sets X-Forwarded-* and the request id; passes traceparent through', () => {
    const out = upstreamRequestHeaders(
      {
        host: 'shop.example',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'a=b',
      },
      ctx,
    );
    expect(out).toEqual({
      // Replaced per attempt by the backend's own Host (exchange.ts).
      host: 'shop.example',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'a=b',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example',
      'x-request-id': 'rid-1',
    });
  });

  const fromOuterProxy = {
    host: 'internal',
    'x-forwarded-for': '203.0.113.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'shop.example',
  };

  it("appends to a trusted proxy's X-Forwarded-For and keeps its Proto and Host", () => {
    const out = upstreamRequestHeaders(fromOuterProxy, {
      ...ctx,
      host: 'internal',
      trusted: compileTrustedProxies(['10.0.0.0/8']),
    });
    expect(out['x-forwarded-for']).toBe('203.0.113.1, 10.0.0.9');
    expect(out['x-forwarded-proto']).toBe('https');
    expect(out['x-forwarded-host']).toBe('shop.example');
  });

  it('replaces the X-Forwarded-* an untrusted client sends with what the gateway saw', () => {
    const out = upstreamRequestHeaders(fromOuterProxy, { ...ctx, host: 'internal' });
    expect(out['x-forwarded-for']).toBe('10.0.0.9');
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-host']).toBe('internal');
  });

  it('applies a header modifier: remove, then set, then add', () => {
    const out: Headers = { cookie: 'a=1', 'x-tenant': 'old', accept: 'text/html' };
    applyHeaderModifier(out, {
      remove: ['Cookie'],
      set: { 'X-Tenant': 'new' },
      add: { accept: 'application/json', 'x-extra': '1' },
    });
    expect(out.cookie).toBeUndefined();
    expect(out['x-tenant']).toBe('new');
    expect(out.accept).toEqual(['text/html', 'application/json']);
    expect(out['x-extra']).toBe('1');
  });

  it('keeps a sane incoming x-request-id and replaces a missing or hostile one', () => {
    expect(requestId('abc-123')).toBe('abc-123');
    expect(requestId(['first', 'second'])).toBe('first');
    expect(requestId(undefined)).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestId('has space')).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestId('x'.repeat(201))).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('path rewrite', () => {
  const prefix = (value: string, pathPrefix: string) =>
    planRewrite({
      match: { path: { type: 'PathPrefix', value }, methods: [], headers: [], query: [] },
      rewrite: { pathPrefix },
    });
  const full = (fullPath: string) =>
    planRewrite({
      match: { path: { type: 'Exact', value: '/x' }, methods: [], headers: [], query: [] },
      rewrite: { fullPath },
    });
  const none = planRewrite({
    match: { path: { type: 'Exact', value: '/x' }, methods: [], headers: [], query: [] },
  });

  it('replaces the matched prefix and keeps the rest and the query', () => {
    expect(`${rewritePath(prefix('/api/orders', '/orders'), '/api/orders/7')}?a=1`).toBe(
      '/orders/7?a=1',
    );
    expect(rewritePath(prefix('/api/orders', '/orders'), '/api/orders')).toBe('/orders');
    expect(rewritePath(prefix('/api/orders/', '/v2'), '/api/orders/7')).toBe('/v2/7');
  });

  it('never produces a double or missing slash', () => {
    expect(rewritePath(prefix('/api/orders', '/'), '/api/orders/7')).toBe('/7');
    expect(rewritePath(prefix('/api/orders', '/'), '/api/orders')).toBe('/');
    expect(rewritePath(prefix('/api', '/v1/'), '/api/x')).toBe('/v1/x');
  });

  it('replaces the whole path with fullPath', () => {
    expect(`${rewritePath(full('/v2/products'), '/x')}?id=3`).toBe('/v2/products?id=3');
  });

  it('keeps the path when the route has no rewrite', () => {
    expect(rewritePath(none, '/x')).toBe('/x');
  });
});

describe('header modifiers and bodies', () => {
  it('adds to a header that already has several values', () => {
    const headers: Headers = { via: ['1.1 a', '1.1 b'] };
    applyHeaderModifier(headers, { set: {}, add: { Via: '1.1 figway' }, remove: [] });
    expect(headers.via).toEqual(['1.1 a', '1.1 b', '1.1 figway']);
  });

  it('knows when a request carries a body', () => {
    expect(hasBody({})).toBe(false);
    expect(hasBody({ 'content-length': '0' })).toBe(false);
    expect(hasBody({ 'content-length': '12' })).toBe(true);
    expect(hasBody({ 'transfer-encoding': 'chunked' })).toBe(true);
  });
});
