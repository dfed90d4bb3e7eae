import { describe, expect, it } from '@jest/globals';
import {
  apiKeySecretNames,
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
    expect(apiKeySecretNames(table)).toEqual(['default-keys', 'orders-keys']);
  });

  it('has no defaults and no Secrets when nothing asks for keys', () => {
    const plain = compileRouteTable(validApiRoute(apiRoute({ routes: [route('cart')] })));
    expect(plain.defaults).toBeUndefined();
    expect(apiKeySecretNames(plain)).toEqual([]);
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
