// spec.defaults: a route's missing policies come from it, per key (a route's own auth or
// cors replaces the default one, `auth: {}` turns auth off), and unmatched traffic gets it.
import { describe, expect, it } from '@jest/globals';
import { compileRouteTable, validateApiRoute } from '../../../src/api/index.js';

const JWT = {
  issuer: 'https://id.example.com',
  audiences: ['shop'],
  jwksUri: 'https://id.example.com/jwks.json',
};

const DEFAULTS = { auth: { jwt: JWT }, cors: { allowOrigins: ['https://shop.example.com'] } };

function validate(routes: Record<string, unknown>[], defaults: Record<string, unknown> = DEFAULTS) {
  return validateApiRoute({
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'shop', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      defaults,
      routes: routes.map((r, i) => ({
        name: `r${i}`,
        match: { path: { value: `/r${i}` } },
        backends: [{ monolith: true, weight: 100 }],
        ...r,
      })),
    },
  });
}

function table(routes: Record<string, unknown>[]) {
  const result = validate(routes);
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

describe('a cohort keyed on a claim', () => {
  const cohort = { cohort: { claim: 'sub' } };
  const errors = (routes: Record<string, unknown>[], defaults?: Record<string, unknown>) => {
    const result = validate(routes, defaults);
    return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
  };

  it('is accepted with auth.jwt on the route or from spec.defaults, and compiled', () => {
    expect(table([cohort]).routes[0]?.cohort).toEqual({ claim: 'sub' });
    expect(errors([{ ...cohort, auth: { jwt: JWT } }], {})).toEqual([]);
  });

  it('is refused, naming the field and the fix, on a route without a JWT', () => {
    const fix = 'needs a verified JWT on the route: add auth.jwt to the route or to spec.defaults';
    expect(errors([cohort], {})).toEqual([
      expect.stringContaining(`spec.routes[0].cohort.claim: ${fix}`),
    ]);
    // auth: {} turns the default JWT off for this route, and with it the claims.
    expect(errors([{}, { ...cohort, auth: {} }])).toEqual([
      expect.stringContaining(`spec.routes[1].cohort.claim: ${fix}`),
    ]);
  });

  it('is one cohort key, not one more next to a header', () => {
    expect(errors([{ cohort: { claim: 'sub', header: 'x-user-id' } }])).toEqual([
      'spec.routes[0].cohort: set exactly one of header, cookie, claim or clientIp: true',
    ]);
  });
});
