import { describe, expect, it } from '@jest/globals';
import { compileRouteTable, validateApiRoute } from '../../../src/api/index.js';

/** The customer-overview route beside the routes whose backends its parts name. */
function apiRoute(change: (overview: any, spec: any) => void = () => undefined): unknown {
  const overview: any = {
    name: 'customer-overview',
    match: { path: { type: 'Exact', value: '/api/customers/{id}/overview' } },
    timeout: '2s',
    compose: {
      parts: [
        { name: 'profile', backend: 'customers', path: '/customers/{id}' },
        { name: 'orders', backend: 'orders', path: '/orders?customer={id}', optional: true },
        { name: 'payments', monolith: true, path: '/legacy/payments/{id}', timeout: '800ms' },
      ],
    },
  };
  const spec: any = {
    monolith: { service: 'legacy-shop', port: 8080 },
    routes: [
      {
        name: 'customers-api',
        match: { path: { value: '/api/customers' } },
        backends: [{ service: 'customers', port: 80, weight: 100 }],
      },
      {
        name: 'orders-api',
        match: { path: { value: '/api/orders' } },
        backends: [
          { service: 'orders', port: 80, weight: 30 },
          { monolith: true, weight: 70 },
        ],
      },
      overview,
    ],
  };
  change(overview, spec);
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'customers', namespace: 'shop' },
    spec,
  };
}

function errorsOf(input: unknown): string[] {
  const result = validateApiRoute(input);
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

const PARTS = 'spec.routes[2].compose.parts';

describe('compose (schema)', () => {
  it('accepts the issue example without backends and compiles each part to a backend of the route', () => {
    const result = validateApiRoute(apiRoute());
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const route = compileRouteTable(result.value).routes[2];
    expect(route?.backends).toEqual([
      expect.objectContaining({
        name: 'customers',
        url: 'http://customers.shop.svc:80',
        weight: 0,
      }),
      expect.objectContaining({ name: 'orders', url: 'http://orders.shop.svc:80', weight: 0 }),
      expect.objectContaining({ name: 'monolith', monolith: true, weight: 0 }),
    ]);
    expect(route?.newServicePercent).toBe(0);
    expect(route?.compose?.parts).toEqual([
      {
        name: 'profile',
        backend: 'customers',
        monolith: false,
        path: '/customers/{id}',
        optional: false,
        timeoutMs: 2000,
      },
      {
        name: 'orders',
        backend: 'orders',
        monolith: false,
        path: '/orders?customer={id}',
        optional: true,
        timeoutMs: 2000,
      },
      {
        name: 'payments',
        backend: 'monolith',
        monolith: true,
        path: '/legacy/payments/{id}',
        optional: false,
        timeoutMs: 800,
      },
    ]);
  });

  it('names a url backend by its host, and takes RE2 named groups as parameters', () => {
    const result = validateApiRoute(
      apiRoute((overview, spec) => {
        spec.routes[0].backends = [{ url: 'https://crm.example.com:8443/v2', weight: 100 }];
        overview.match.path = { type: 'RegularExpression', value: '/c/(?P<id>[0-9]+)/o' };
        overview.compose.parts[0].backend = 'crm.example.com:8443';
      }),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(compileRouteTable(result.value).routes[2]?.backends[0]).toMatchObject({
      name: 'crm.example.com:8443',
      url: 'https://crm.example.com:8443/v2',
    });
  });

  it.each<[string, (overview: any, spec: any) => void, string]>([
    [
      'an unknown parameter reference',
      (o) => (o.compose.parts[1].path = '/orders?customer={customer}'),
      `${PARTS}[1].path: refers to {customer}, which the route's match declares {id}`,
    ],
    [
      'a reference on a route without parameters',
      (o) => (o.match.path.value = '/api/overview'),
      `${PARTS}[0].path: refers to {id}, which the route's match declares none`,
    ],
    [
      'duplicate part names',
      (o) => (o.compose.parts[2].name = 'profile'),
      `${PARTS}[2].name: duplicate part name "profile" (also parts[0].name)`,
    ],
    [
      'too many parts',
      (o) =>
        (o.compose.parts = Array.from({ length: 9 }, (_, i) => ({
          name: `p${i}`,
          monolith: true,
          path: '/x',
        }))),
      `${PARTS}: must list at most 8 parts`,
    ],
    ['no parts', (o) => (o.compose.parts = []), `${PARTS}: must list at least one part`],
    [
      'a timeout that is no duration',
      (o) => (o.compose.parts[2].timeout = '800'),
      `${PARTS}[2].timeout: must be a duration such as 250ms, 5s, 2m, 1m30s or 1h (Gateway API duration: up to four parts of 1-5 digits and h, m, s or ms), got "800"`,
    ],
    [
      'a timeout beyond the route timeout',
      (o) => (o.compose.parts[2].timeout = '3s'),
      `${PARTS}[2].timeout: must be at most the route timeout (2s)`,
    ],
    [
      'a backend nobody routes to',
      (o) => (o.compose.parts[0].backend = 'billing'),
      `${PARTS}[0].backend: must name a new-service backend of this ApiRoute's routes ("customers", "orders") or be replaced by monolith: true, got "billing"`,
    ],
    [
      'a backend name with two addresses',
      (_o, spec) => {
        spec.routes[1].backends[0].port = 8080;
        spec.routes[0].backends[0].service = 'orders';
      },
      `${PARTS}[1].backend: names 2 different backends (orders:80, orders:8080)`,
    ],
    [
      'both backend and monolith',
      (o) => (o.compose.parts[0].monolith = true),
      `${PARTS}[0]: set exactly one of backend (a new-service backend name) or monolith: true`,
    ],
    [
      'backends beside compose',
      (o) => (o.backends = [{ monolith: true, weight: 100 }]),
      'spec.routes[2].backends: must be left out with compose',
    ],
    [
      'a method that writes',
      (o) => (o.match.methods = ['GET', 'POST']),
      'spec.routes[2].match.methods[1]: must be GET or HEAD with compose',
    ],
    [
      'a rewrite',
      (o) => (o.rewrite = { fullPath: '/x' }),
      'spec.routes[2].rewrite: does not apply with compose',
    ],
    [
      'a part name that is no JSON member a client reads',
      (o) => (o.compose.parts[0].name = '_failed'),
      `${PARTS}[0].name: must be a letter then up to 62 letters`,
    ],
    [
      'a stray brace in a part path',
      (o) => (o.compose.parts[0].path = '/customers/{id'),
      `${PARTS}[0].path: must be a path (and query) starting with '/'`,
    ],
    [
      'a fragment in a part path',
      (o) => (o.compose.parts[0].path = '/customers/{id}#x'),
      `${PARTS}[0].path: must be a path (and query) starting with '/'`,
    ],
    [
      'a route with neither backends nor compose',
      (o) => delete o.compose,
      'spec.routes[2].backends: must list at least one backend (or compose the answer from parts)',
    ],
  ])('refuses %s, naming the field', (_name, change, expected) => {
    const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(errorsOf(apiRoute(change))).toContainEqual(
      expect.stringMatching(new RegExp(`^${escaped}`)),
    );
  });
});
