// The cache's pure decisions (src/gateway/cache/key.ts): who may use the cache, the keys,
// Vary, and the route's ttl capping what the upstream allowed.
import { describe, expect, it } from '@jest/globals';
import type { CompiledCache } from '../../../src/api/index.js';
import {
  cacheableMethod,
  cappedFreshness,
  cacheUser,
  freshUntil,
  keepMs,
  MAX_VARY_NAMES,
  primaryKey,
  usableOnError,
  variantKey,
  varyNames,
  type KeyParts,
} from '../../../src/gateway/cache/key.js';

const config: CompiledCache = {
  ttlMs: 30_000,
  maxBytes: 1 << 20,
  maxBodyBytes: 1 << 16,
  includeQuery: true,
  keyHeaders: ['accept-language'],
  perUser: false,
};
const anonymous = { authorization: undefined, claims: undefined, consumer: undefined };
const parts: KeyParts = {
  backend: 'orders',
  host: 'shop.example',
  path: '/api/orders',
  query: 'page=2',
  headers: { 'accept-language': 'de' },
  user: '',
};

describe('cache bypass rules', () => {
  it('caches GET and HEAD only', () => {
    expect(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'].map(cacheableMethod)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('lets anonymous requests share entries', () => {
    expect(cacheUser(anonymous, false)).toBe('');
    expect(cacheUser(anonymous, true)).toBe('');
  });

  it('bypasses any credential without perUser: Authorization, verified claims, an API-key consumer', () => {
    expect(cacheUser({ ...anonymous, authorization: 'Bearer x' }, false)).toBeUndefined();
    expect(cacheUser({ ...anonymous, claims: { sub: 'alice' } }, false)).toBeUndefined();
    expect(cacheUser({ ...anonymous, consumer: 'shop-app' }, false)).toBeUndefined();
  });

  it('with perUser names the user: consumer, else issuer and subject, else a digest of Authorization', () => {
    expect(cacheUser({ ...anonymous, consumer: 'shop-app', authorization: 'k' }, true)).toBe(
      'consumer:shop-app',
    );
    expect(
      cacheUser(
        { ...anonymous, claims: { iss: 'https://id', sub: 'alice' }, authorization: 'x' },
        true,
      ),
    ).toBe('jwt:["https://id","alice"]');
    const digested = cacheUser({ ...anonymous, authorization: 'Bearer s3cret' }, true);
    expect(digested).toMatch(/^authorization:/);
    expect(digested).not.toContain('s3cret');
    expect(cacheUser({ ...anonymous, authorization: 'Bearer other' }, true)).not.toBe(digested);
  });

  it('keeps kinds apart: a consumer named like a subject is not that subject', () => {
    const consumer = cacheUser({ ...anonymous, consumer: 'alice' }, true);
    const subject = cacheUser({ ...anonymous, claims: { sub: 'alice' } }, true);
    expect(consumer).not.toBe(subject);
  });

  it('bypasses claims without a subject and no Authorization to tell users apart', () => {
    expect(cacheUser({ ...anonymous, claims: { scope: 'read' } }, true)).toBeUndefined();
  });
});

describe('cache keys', () => {
  it('tell apart backend, host, path, query, key headers and user', () => {
    const base = primaryKey(config, parts);
    const changed: Partial<KeyParts>[] = [
      { backend: 'monolith' },
      { host: 'other.example' },
      { path: '/api/orders/1' },
      { query: 'page=3' },
      { headers: { 'accept-language': 'en' } },
      { headers: {} },
      { user: 'consumer:app' },
    ];
    for (const change of changed)
      expect(primaryKey(config, { ...parts, ...change })).not.toBe(base);
    expect(
      primaryKey(config, { ...parts, headers: { 'accept-language': 'de', 'x-other': '1' } }),
    ).toBe(base);
  });

  it('ignores the query when includeQuery is false', () => {
    const noQuery = { ...config, includeQuery: false };
    expect(primaryKey(noQuery, parts)).toBe(primaryKey(noQuery, { ...parts, query: 'page=9' }));
  });

  it('cannot be forged by moving text between parts', () => {
    const a = primaryKey(config, { ...parts, path: '/a', query: 'b' });
    const b = primaryKey(config, { ...parts, path: '/a?b', query: '' });
    expect(a).toBe(b); // the same target, so the same entry: /a?b
    const c = primaryKey(config, { ...parts, host: 'x', path: '/y' });
    const d = primaryKey(config, { ...parts, host: 'x/y', path: '' });
    expect(c).not.toBe(d);
  });
});

describe('Vary', () => {
  it('reads every spelling of one list as the same sorted names', () => {
    expect(varyNames('Accept-Language, Accept-Encoding')).toEqual([
      'accept-encoding',
      'accept-language',
    ]);
    expect(varyNames(['ACCEPT-language ,, accept-Encoding', ' accept-language '])).toEqual([
      'accept-encoding',
      'accept-language',
    ]);
    expect(varyNames(undefined)).toEqual([]);
  });

  it('refuses *, names that are not tokens, and too many names', () => {
    expect(varyNames('accept, *')).toBeUndefined();
    expect(varyNames('accept language')).toBeUndefined();
    expect(varyNames('a\u0000b')).toBeUndefined();
    const many = Array.from({ length: MAX_VARY_NAMES + 1 }, (_, i) => `x-${i}`).join(',');
    expect(varyNames(many)).toBeUndefined();
    expect(varyNames(many.split(',').slice(1).join(','))).toHaveLength(MAX_VARY_NAMES);
  });

  it('keys variants by the values of the varying headers', () => {
    const names = ['accept-language'];
    const de = variantKey('p', names, { 'accept-language': 'de' });
    expect(variantKey('p', names, { 'accept-language': 'en' })).not.toBe(de);
    expect(variantKey('p', names, { 'accept-language': 'de', other: '1' })).toBe(de);
  });
});

describe('ttl capping', () => {
  it('keeps what the upstream says when it is shorter than the ttl', () => {
    expect(cappedFreshness('fresh', 5_000, 30_000, 0)).toBe('fresh');
    expect(cappedFreshness('expired', 5_000, 30_000, 0)).toBe('expired');
    expect(cappedFreshness('stale-while-revalidate', 5_000, 30_000, 0)).toBe(
      'stale-while-revalidate',
    );
  });

  it('makes an entry older than the ttl stale, within stale-while-revalidate still servable', () => {
    expect(cappedFreshness('fresh', 30_000, 30_000, 0)).toBe('expired');
    expect(cappedFreshness('fresh', 31_000, 30_000, 10_000)).toBe('stale-while-revalidate');
    expect(cappedFreshness('fresh', 41_000, 30_000, 10_000)).toBe('expired');
  });

  it('measures stale-if-error from the shorter of max-age and ttl', () => {
    expect(usableOnError(40_000, 60_000, 30_000, 15_000)).toBe(true);
    expect(usableOnError(46_000, 60_000, 30_000, 15_000)).toBe(false);
    expect(usableOnError(12_000, 10_000, 30_000, 0)).toBe(false);
  });

  it('keeps entries while fresh, then while stale copies or validators still serve', () => {
    expect(keepMs(60_000, 30_000, 0, 0, false)).toBe(30_000);
    expect(keepMs(10_000, 30_000, 5_000, 20_000, false)).toBe(30_000);
    expect(keepMs(0, 30_000, 0, 0, false)).toBe(0);
    expect(keepMs(0, 30_000, 0, 0, true)).toBe(30_000);
    expect(keepMs(-5_000, 30_000, 0, 0, true)).toBe(30_000);
  });
});

describe('quick hits', () => {
  it('are fresh until the shorter of max-age and ttl, less the age the answer came with', () => {
    expect(freshUntil(1_000, 60_000, 0, 30_000, false)).toBe(31_000);
    expect(freshUntil(1_000, 10_000, 4_000, 30_000, false)).toBe(7_000);
    expect(freshUntil(1_000, 60_000, 0, 30_000, true)).toBe(0);
  });
});
