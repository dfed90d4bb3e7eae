import { describe, expect, it } from '@jest/globals';
import {
  secretNames,
  secretUses,
  compileRouteTable,
  formatErrors,
  validateApiRoute,
} from '../../../src/api/index.js';
import { validApiRoute } from '../../tools/api-route.js';

const backends = [{ monolith: true, weight: 100 }];
const route = (name: string, extra: object = {}) => ({
  name,
  match: { path: { type: 'PathPrefix', value: `/${name}` } },
  backends,
  ...extra,
});

function apiRoute(spec: object) {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'shop', namespace: 'shop' },
    spec: { monolith: { url: 'http://legacy:8080' }, ...spec },
  };
}

describe('auth.apiKey in the route table', () => {
  const table = compileRouteTable(
    validApiRoute(
      apiRoute({
        defaults: { auth: { apiKey: { secretRef: { name: 'default-keys' } } } },
        routes: [
          route('orders', {
            auth: { apiKey: { header: 'X-Orders-Key', secretRef: { name: 'orders-keys' } } },
          }),
          route('cart'),
          route('basket', { auth: { apiKey: { secretRef: { name: 'orders-keys' } } } }),
        ],
      }),
    ),
  );

  it('carries the header (lower-cased) and the Secret name, the default header x-api-key', () => {
    expect(table.routes.map((r) => r.apiKey)).toEqual([
      { header: 'x-orders-key', secretName: 'orders-keys' },
      { header: 'x-api-key', secretName: 'default-keys' },
      { header: 'x-api-key', secretName: 'orders-keys' },
    ]);
    expect(table.defaults).toEqual({ apiKey: { header: 'x-api-key', secretName: 'default-keys' } });
  });

  it('lists each Secret the gateway reads once, sorted', () => {
    expect(secretNames(table)).toEqual(['default-keys', 'orders-keys']);
  });

  it('has no defaults and no Secrets when nothing asks for keys', () => {
    const plain = compileRouteTable(validApiRoute(apiRoute({ routes: [route('cart')] })));
    expect(plain.defaults).toBeUndefined();
    expect(secretNames(plain)).toEqual([]);
  });

  it.each([
    [{ secretRef: { name: 'Bad_Name' } }, 'spec.routes[0].auth.apiKey.secretRef.name'],
    [{ secretRef: {} }, 'spec.routes[0].auth.apiKey.secretRef.name'],
    [{ header: 'x key', secretRef: { name: 'k' } }, 'spec.routes[0].auth.apiKey.header'],
    [{ secretRef: { name: 'k' }, extra: 1 }, 'spec.routes[0].auth.apiKey'],
  ])('refuses %j naming %s', (apiKey, field) => {
    const result = validateApiRoute(apiRoute({ routes: [route('orders', { auth: { apiKey } })] }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(formatErrors(result.errors)).toContain(field);
  });
});

describe('auth.jwt.jwksSecretRef', () => {
  const jwt = (keys: object) => ({
    issuer: 'https://id.example.com',
    audiences: ['shop'],
    ...keys,
  });
  const ref = { name: 'shop-jwks', key: 'jwks.json' };

  it('compiles, and the gateway reads the Secret for its JWKS besides any API keys', () => {
    const table = compileRouteTable(
      validApiRoute(
        apiRoute({
          defaults: { auth: { jwt: jwt({ jwksSecretRef: ref }) } },
          routes: [
            route('orders', {
              auth: {
                jwt: jwt({ jwksSecretRef: { name: 'shop-jwks', key: 'next.json' } }),
                apiKey: { secretRef: { name: 'shop-jwks' } },
              },
            }),
            route('cart', { auth: { apiKey: { secretRef: { name: 'cart-keys' } } } }),
          ],
        }),
      ),
    );
    expect(table.defaults?.jwt?.jwksSecretRef).toEqual(ref);
    expect(table.defaults?.jwt?.jwksUri).toBeUndefined();
    expect(secretUses(table)).toEqual([
      { name: 'cart-keys', apiKeys: true, jwksKeys: [] },
      { name: 'shop-jwks', apiKeys: true, jwksKeys: ['jwks.json', 'next.json'] },
    ]);
    expect(secretNames(table)).toEqual(['cart-keys', 'shop-jwks']);
  });

  it.each([
    [{}, 'spec.routes[0].auth.jwt: set exactly one of jwksUri or jwksSecretRef, got none'],
    [
      { jwksUri: 'https://id.example.com/jwks.json', jwksSecretRef: ref },
      'spec.routes[0].auth.jwt: set exactly one of jwksUri or jwksSecretRef, got both',
    ],
    [
      { jwksSecretRef: { name: 'shop-jwks', key: 'a/b' } },
      'spec.routes[0].auth.jwt.jwksSecretRef.key: must be a Secret data key',
    ],
    [{ jwksSecretRef: { name: 'shop-jwks' } }, 'spec.routes[0].auth.jwt.jwksSecretRef.key'],
  ])('refuses %j naming the field', (keys, message) => {
    const result = validateApiRoute(
      apiRoute({ routes: [route('orders', { auth: { jwt: jwt(keys) } })] }),
    );
    expect(result.ok).toBe(false);
    if (!result.ok) expect(formatErrors(result.errors)).toContain(message);
  });
});
