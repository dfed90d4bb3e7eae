// spec.defaults: a route's missing policies come from it, per key (a route's own auth or
// cors replaces the default one, `auth: {}` turns auth off), and unmatched traffic gets it.
import { describe, expect, it } from '@jest/globals';
import { compileRouteTable, validateApiRoute } from '../../../src/api/index.js';

const JWT = {
  issuer: 'https://id.example.com',
  audiences: ['shop'],
  jwksUri: 'https://id.example.com/jwks.json',
};

function table(routes: Record<string, unknown>[]) {
  const result = validateApiRoute({
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'shop', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      defaults: { auth: { jwt: JWT }, cors: { allowOrigins: ['https://shop.example.com'] } },
      routes: routes.map((r, i) => ({
        name: `r${i}`,
        match: { path: { value: `/r${i}` } },
        backends: [{ monolith: true, weight: 100 }],
        ...r,
      })),
    },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return compileRouteTable(result.value);
}

describe('spec.defaults', () => {
  it('fills the policies a route leaves out, and applies to unmatched traffic', () => {
    const t = table([{}]);
    expect(t.routes[0]?.jwt?.audiences).toEqual(['shop']);
    expect(t.routes[0]?.cors?.allowOrigins).toEqual(['https://shop.example.com']);
    expect(t.defaults?.jwt?.issuer).toBe('https://id.example.com');
    expect(t.defaults?.cors?.allowCredentials).toBe(false);
  });

  it("lets a route's own policy replace the default, and auth: {} turn auth off", () => {
    const t = table([
      { auth: { jwt: { ...JWT, audiences: ['orders'] } }, cors: { allowOrigins: ['*'] } },
      { auth: {} },
    ]);
    expect(t.routes[0]?.jwt?.audiences).toEqual(['orders']);
    expect(t.routes[0]?.cors?.allowOrigins).toEqual(['*']);
    expect(t.routes[1]?.jwt).toBeUndefined();
    expect(t.routes[1]?.cors?.allowOrigins).toEqual(['https://shop.example.com']);
  });
});
