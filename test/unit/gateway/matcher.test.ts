import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileRouteTable, type RouteTable } from '../../../src/api/index.js';
import { compileMatcher, compilePathParameters } from '../../../src/gateway/matcher.js';
import { parseRequestTarget } from '../../../src/gateway/request-head.js';
import { validApiRoute } from '../../tools/api-route.js';

type RouteSpec = Record<string, unknown> & { name: string };

function table(routes: RouteSpec[]): RouteTable {
  const apiRoute = validApiRoute({
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 't', namespace: 'ns' },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      routes: routes.map((r) => ({ backends: [{ monolith: true, weight: 100 }], ...r })),
    },
  });
  return compileRouteTable(apiRoute);
}

function matcher(routes: RouteSpec[]) {
  const t = table(routes);
  const m = compileMatcher(t);
  return (url: string, method = 'GET', headers: Record<string, string> = {}) => {
    const target = parseRequestTarget(url);
    if (target.kind !== 'origin') throw new Error(`not an origin-form target: ${url}`);
    const { path, query } = target;
    const index = m.match({ method, path, query, headers });
    return index < 0 ? null : (t.routes[index]?.name ?? null);
  };
}

const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } });
const exact = (value: string) => ({ path: { type: 'Exact', value } });
const regex = (value: string) => ({ path: { type: 'RegularExpression', value } });

describe('route matching precedence', () => {
  it('prefers Exact over PathPrefix over RegularExpression whatever the order written', () => {
    const match = matcher([
      { name: 're', match: regex('/api/.*') },
      { name: 'pre', match: prefix('/api') },
      { name: 'ex', match: exact('/api/orders') },
    ]);
    expect(match('/api/orders')).toBe('ex');
    expect(match('/api/orders/1')).toBe('pre');
    expect(match('/api')).toBe('pre');
  });

  it('prefers the longest PathPrefix', () => {
    const match = matcher([
      { name: 'short', match: prefix('/api') },
      { name: 'long', match: prefix('/api/orders') },
      { name: 'root', match: prefix('/') },
    ]);
    expect(match('/api/orders/7')).toBe('long');
    expect(match('/api/users')).toBe('short');
    expect(match('/health')).toBe('root');
  });

  it('matches PathPrefix on whole segments only', () => {
    const match = matcher([{ name: 'orders', match: prefix('/api/orders') }]);
    expect(match('/api/orders')).toBe('orders');
    expect(match('/api/orders/')).toBe('orders');
    expect(match('/api/orders/1?x=2')).toBe('orders');
    expect(match('/api/ordersx')).toBeNull();
    expect(match('/api/order')).toBeNull();
  });

  it('ignores a trailing slash on the prefix', () => {
    const match = matcher([{ name: 'orders', match: prefix('/api/orders/') }]);
    expect(match('/api/orders')).toBe('orders');
    expect(match('/api/orders/9')).toBe('orders');
  });

  it('anchors regular expressions to the whole path', () => {
    const match = matcher([{ name: 'products', match: regex('/api/products/[0-9]+') }]);
    expect(match('/api/products/12')).toBe('products');
    expect(match('/api/products/12/reviews')).toBeNull();
    expect(match('/x/api/products/12')).toBeNull();
  });

  it('anchors alternations as a whole (a|b means ^(?:a|b)$, not ^a|b$)', () => {
    const match = matcher([{ name: 'alt', match: regex('/a|/b') }]);
    expect(match('/a')).toBe('alt');
    expect(match('/b')).toBe('alt');
    expect(match('/ab')).toBeNull();
    expect(match('/xb')).toBeNull();
  });

  it('among equal paths prefers routes with methods, then more header matches', () => {
    const match = matcher([
      { name: 'plain', match: prefix('/api') },
      { name: 'one-header', match: { ...prefix('/api'), headers: [{ name: 'x-a', value: '1' }] } },
      {
        name: 'two-headers',
        match: {
          ...prefix('/api'),
          headers: [
            { name: 'x-a', value: '1' },
            { name: 'X-B', value: '2' },
          ],
        },
      },
      { name: 'post', match: { ...prefix('/api'), methods: ['POST'] } },
    ]);
    expect(match('/api/x', 'POST', { 'x-a': '1', 'x-b': '2' })).toBe('post');
    expect(match('/api/x', 'GET', { 'x-a': '1', 'x-b': '2' })).toBe('two-headers');
    expect(match('/api/x', 'GET', { 'x-a': '1' })).toBe('one-header');
    expect(match('/api/x', 'GET', { 'x-a': '2' })).toBe('plain');
  });

  it('keeps the order written between otherwise equal routes', () => {
    const match = matcher([
      { name: 'first', match: regex('/a.*') },
      { name: 'second', match: regex('/ab.*') },
    ]);
    expect(match('/abc')).toBe('first');
  });

  it('matches header values exactly or by anchored regular expression', () => {
    const match = matcher([
      {
        name: 'beta',
        match: {
          ...prefix('/'),
          headers: [{ name: 'x-tenant', value: 'beta-[0-9]+', type: 'RegularExpression' }],
        },
      },
    ]);
    expect(match('/', 'GET', { 'x-tenant': 'beta-7' })).toBe('beta');
    expect(match('/', 'GET', { 'x-tenant': 'xbeta-7' })).toBeNull();
    expect(match('/', 'GET', {})).toBeNull();
  });

  it('matches query parameters', () => {
    const match = matcher([
      { name: 'v2', match: { ...prefix('/api'), query: [{ name: 'version', value: '2' }] } },
      { name: 'api', match: prefix('/api') },
    ]);
    expect(match('/api/x?version=2')).toBe('v2');
    expect(match('/api/x?version=3')).toBe('api');
    expect(match('/api/x')).toBe('api');
  });

  it('matches query values by RE2 regular expression, anchored', () => {
    const match = matcher([
      {
        name: 'locale',
        match: {
          ...prefix('/'),
          query: [{ name: 'lang', value: '(?i)[a-z]{2}-[a-z]{2}', type: 'RegularExpression' }],
        },
      },
    ]);
    expect(match('/?lang=en-US')).toBe('locale');
    expect(match('/?lang=en-US-x')).toBeNull();
  });

  it('refuses a table whose regex RE2 cannot run, naming the route and the field', () => {
    // The schema refuses these first; a route table from elsewhere (an older operator's
    // ConfigMap) is checked again here, so the gateway keeps its last good table.
    const t = table([{ name: 'orders', match: prefix('/api') }]);
    const route = t.routes[0]!;
    const broken = {
      routes: [
        {
          ...route,
          match: {
            ...route.match,
            query: [{ name: 'q', type: 'RegularExpression' as const, value: 'a(?=b)' }],
          },
        },
      ],
    };
    expect(() => compileMatcher(broken)).toThrow(
      'route orders: match.query[0].value uses lookahead ((?= or (?!), which RE2 does not support',
    );
  });

  it('matches {name} segments of Exact and PathPrefix templates one whole segment each', () => {
    const match = matcher([
      { name: 'overview', match: exact('/api/customers/{id}/overview') },
      { name: 'customer', match: prefix('/api/customers/{id}') },
    ]);
    expect(match('/api/customers/42/overview')).toBe('overview');
    expect(match('/api/customers/42/overview/x')).toBe('customer');
    expect(match('/api/customers/42')).toBe('customer');
    expect(match('/api/customers/42/orders')).toBe('customer');
    // A parameter is never empty and never spans segments.
    expect(match('/api/customers//overview')).toBeNull();
    expect(match('/api/customers/')).toBeNull();
    expect(match('/api/customers')).toBeNull();
    expect(match('/api/customer/42')).toBeNull();
  });

  it('ranks a literal path before a template of its type, longer templates first', () => {
    const match = matcher([
      { name: 'any-two', match: prefix('/api/{a}/{b}') },
      { name: 'any', match: prefix('/api/{a}') },
      { name: 'me', match: exact('/api/users/me') },
      { name: 'user', match: exact('/api/users/{id}') },
      { name: 'users', match: prefix('/api/users') },
    ]);
    expect(match('/api/users/me')).toBe('me');
    expect(match('/api/users/7')).toBe('user');
    // Exact templates still rank before any PathPrefix; among prefixes literal first.
    expect(match('/api/users/7/x')).toBe('users');
    expect(match('/api/orders/7')).toBe('any-two');
    expect(match('/api/orders')).toBe('any');
  });

  it('reads path parameters, decoded, from templates and RE2 named groups', () => {
    const t = table([
      { name: 'tpl', match: prefix('/api/customers/{id}/orders/{order}') },
      { name: 're', match: regex('/api/items/(?P<sku>[a-z0-9%]+)(/(?P<rest>.*))?') },
      { name: 'plain', match: prefix('/api') },
    ]);
    const [tpl, re, plain] = t.routes.map((r) => compilePathParameters(r.match.path));
    expect(tpl!('/api/customers/a%2Fb/orders/7/lines')).toEqual({ id: 'a/b', order: '7' });
    expect(re!('/api/items/x1/more/parts')).toEqual({ sku: 'x1', rest: 'more/parts' });
    expect(re!('/api/items/x1')).toEqual({ sku: 'x1', rest: '' });
    expect(plain!('/api/x')).toEqual({});
  });

  it('sends unmatched requests to nobody (the monolith)', () => {
    const match = matcher([
      { name: 'orders', match: { ...prefix('/api/orders'), methods: ['GET'] } },
    ]);
    expect(match('/api/orders', 'DELETE')).toBeNull();
    expect(match('/elsewhere')).toBeNull();
  });

  it('gives the same answer as a brute-force reading of the precedence rules', () => {
    // Property: the compiled matcher (a path trie, then the regexes) picks the
    // best-ranked of all the routes that match, every route tested on its own.
    const requestSegment = fc.constantFrom('a', 'b', 'ab', '');
    const requestPath = fc
      .array(requestSegment, { minLength: 0, maxLength: 4 })
      .map((s) => `/${s.join('/')}`);
    // 'P' becomes a {name} segment; a trailing '' gives the prefix a trailing slash.
    const routeSegments = fc.array(fc.constantFrom('a', 'b', 'ab', 'P', ''), {
      minLength: 0,
      maxLength: 3,
    });
    const regexes = ['/a.*', '/(a|b)/.*', '/ab?', '/.*b'];
    const routeArb = fc.record({
      type: fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression'),
      segments: routeSegments,
      regex: fc.constantFrom(...regexes),
      withMethod: fc.boolean(),
      headers: fc.integer({ min: 0, max: 2 }),
      withQuery: fc.boolean(),
    });
    const templateValue = (segments: string[]) =>
      `/${segments.map((s, i) => (s === 'P' ? `{p${i}}` : s)).join('/')}`;
    fc.assert(
      fc.property(
        fc.array(routeArb, { minLength: 1, maxLength: 8 }),
        requestPath,
        fc.boolean(),
        fc.boolean(),
        (drawn, path, post, withQuery) => {
          const routes = drawn.map((r, i) => {
            const value = r.type === 'RegularExpression' ? r.regex : templateValue(r.segments);
            const stripped = value.replace(/\/+$/, '');
            // What the rules read: the path's segments (after the leading slash, a
            // prefix without its trailing slashes: '/' has none and matches every path).
            const segments = (r.type === 'PathPrefix' ? stripped : value).split('/').slice(1);
            const template = r.type !== 'RegularExpression' && value.includes('{');
            const length = r.type === 'PathPrefix' ? stripped.length : 0;
            return { ...r, i, value, segments, template, length };
          });
          const specs = routes.map((r) => ({
            name: `r${r.i}`,
            match: {
              path: { type: r.type, value: r.value },
              ...(r.withMethod && { methods: ['GET'] }),
              ...(r.headers > 0 && {
                headers: [
                  { name: 'x-h', value: '1' },
                  { name: 'x-i', value: '1' },
                ].slice(0, r.headers),
              }),
              ...(r.withQuery && { query: [{ name: 'v', value: '1' }] }),
            },
          }));
          const match = matcher(specs);
          const method = post ? 'POST' : 'GET';
          const headers = { 'x-h': '1', 'x-i': '1' };
          const parts = path.split('/').slice(1);
          const segmentMatches = (want: string, got: string | undefined) =>
            got !== undefined && (want.startsWith('{') ? got !== '' : got === want);
          const pathMatches = (r: (typeof routes)[number]) => {
            if (r.type === 'RegularExpression') return new RegExp(`^(?:${r.value})$`).test(path);
            if (r.type === 'Exact' && parts.length !== r.segments.length) return false;
            return r.segments.every((want, k) => segmentMatches(want, parts[k]));
          };
          const typeRank = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;
          const candidates = routes
            .filter(pathMatches)
            .filter((r) => !r.withMethod || method === 'GET')
            .filter((r) => !r.withQuery || withQuery);
          candidates.sort(
            (a, b) =>
              typeRank[a.type] - typeRank[b.type] ||
              Number(a.template) - Number(b.template) ||
              (a.template && b.template ? b.segments.length - a.segments.length : 0) ||
              b.length - a.length ||
              Number(b.withMethod) - Number(a.withMethod) ||
              b.headers - a.headers ||
              Number(b.withQuery) - Number(a.withQuery) ||
              a.i - b.i,
          );
          const expected = candidates[0] ? `r${candidates[0].i}` : null;
          expect(match(withQuery ? `${path}?v=1` : path, method, headers)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
