// spec.routes[].cache, spec.defaults.cache and spec.gateway.cachePurge (issue 15): bad input
// is refused naming the field, good input compiles into the route table.
import { describe, expect, it } from '@jest/globals';
import {
  secretNames,
  compileRouteTable,
  validateApiRoute,
  type ApiRoute,
} from '../../../src/api/index.js';

function apiRoute(spec: { gateway?: unknown; defaults?: unknown; caches: unknown[] }): unknown {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      ...(spec.gateway !== undefined && { gateway: spec.gateway }),
      ...(spec.defaults !== undefined && { defaults: spec.defaults }),
      routes: spec.caches.map((cache, i) => ({
        name: `r${i}`,
        match: { path: { type: 'PathPrefix', value: `/r${i}` } },
        backends: [{ service: 'orders', port: 80, weight: 100 }],
        ...(cache !== undefined && { cache }),
      })),
    },
  };
}

function errorsOf(input: unknown): string[] {
  const result = validateApiRoute(input);
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('cache schema', () => {
  it('applies the defaults and compiles to milliseconds, bytes and lower-case headers', () => {
    const result = validateApiRoute(
      apiRoute({ caches: [{ key: { headers: ['Accept-Language', 'accept-language'] } }] }),
    );
    expect(result.ok).toBe(true);
    const table = compileRouteTable((result as { value: ApiRoute }).value);
    expect(table.routes[0]?.cache).toEqual({
      ttlMs: 30_000,
      maxBytes: 64 * 1024 * 1024,
      maxBodyBytes: 1024 * 1024,
      includeQuery: true,
      keyHeaders: ['accept-language'],
      perUser: false,
    });
  });

  it.each([
    ['ttl 0', { ttl: '0s' }, 'spec.routes[0].cache.ttl: must be greater than 0, got 0s'],
    ['ttl 0ms', { ttl: '0ms' }, 'spec.routes[0].cache.ttl: must be greater than 0'],
    ['a negative ttl', { ttl: '-1s' }, 'spec.routes[0].cache.ttl: must be a duration'],
    [
      'maxBodyBytes above maxBytes',
      { maxBytes: '1Mi', maxBodyBytes: '2Mi' },
      'spec.routes[0].cache.maxBodyBytes: must be at most maxBytes (1Mi), got 2Mi',
    ],
    ['maxBytes 0', { maxBytes: 0 }, 'spec.routes[0].cache.maxBytes: must be a quantity between 1'],
    [
      'a malformed quantity',
      { maxBytes: '12 MB' },
      'spec.routes[0].cache.maxBytes: must be a Kubernetes quantity',
    ],
    [
      'a key header that is not a header name',
      { key: { headers: ['accept language'] } },
      'spec.routes[0].cache.key.headers[0]: must be a valid HTTP header name',
    ],
    ['an unknown field', { ttl: '5s', size: '1Mi' }, 'spec.routes[0].cache'],
  ])('refuses %s, naming the field', (_what, cache, message) => {
    expect(errorsOf(apiRoute({ caches: [cache] })).join('\n')).toContain(message);
  });

  it('refuses caches that add up to more than half the memory limit, and says how to fix it', () => {
    const limited = { resources: { limits: { memory: '512Mi' } } };
    // Two routes of 128Mi: exactly half of 512Mi, accepted.
    expect(
      errorsOf(
        apiRoute({ gateway: limited, caches: [{ maxBytes: '128Mi' }, { maxBytes: '128Mi' }] }),
      ),
    ).toEqual([]);
    const errors = errorsOf(
      apiRoute({ gateway: limited, caches: [{ maxBytes: '128Mi' }, { maxBytes: '129Mi' }] }),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^spec\.routes\[0\]\.cache\.maxBytes: .*more than half of the memory limit 512Mi \(spec\.gateway\.resources\.limits\.memory\); lower maxBytes or raise the limit$/,
    );
  });

  it('checks against the default 256Mi limit, and counts spec.defaults.cache per inheriting route and for unmatched traffic', () => {
    expect(errorsOf(apiRoute({ caches: [{ maxBytes: '200Mi' }] })).join()).toContain(
      'memory limit 256Mi',
    );
    // 64Mi by default, inherited by two routes and unmatched traffic: 192Mi > 128Mi.
    const inherited = errorsOf(
      apiRoute({ defaults: { cache: {} }, caches: [undefined, undefined] }),
    );
    expect(inherited.join()).toContain('spec.defaults.cache.maxBytes');
    expect(errorsOf(apiRoute({ defaults: { cache: {} }, caches: [undefined] }))).toEqual([]);
    // No memory limit: nothing to check against.
    expect(
      errorsOf(
        apiRoute({
          gateway: { resources: { requests: { cpu: '1' } } },
          caches: [{ maxBytes: '8Gi' }],
        }),
      ),
    ).toEqual([]);
  });

  it('puts the purge token Secret among the Secrets the gateway reads', () => {
    const result = validateApiRoute(
      apiRoute({
        gateway: { cachePurge: { tokenSecretRef: { name: 'purge-token', key: 'token' } } },
        caches: [{}],
      }),
    );
    expect(result.ok).toBe(true);
    const table = compileRouteTable((result as { value: ApiRoute }).value);
    expect(table.cachePurge).toEqual({ secretName: 'purge-token', key: 'token' });
    expect(secretNames(table)).toEqual(['purge-token']);
    expect(
      errorsOf(
        apiRoute({
          gateway: { cachePurge: { tokenSecretRef: { name: 'Bad_Name', key: 'token' } } },
          caches: [],
        }),
      ).join(),
    ).toContain('spec.gateway.cachePurge.tokenSecretRef.name');
  });
});
