// The route table of a migrating route carries the autopilot's weight, not the spec's:
// the spec's backends say where traffic goes, the migration says how much.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parse } from 'yaml';
import {
  apportion,
  compileRouteTable,
  validateApiRoute,
  type ApiRoute,
} from '../../../src/api/index.js';

function apiRoute(backends: string, migration = '{ steps: [5, 25, 50, 100] }'): ApiRoute {
  const result = validateApiRoute(
    parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: shop, namespace: shop }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: orders-api
      match: { path: { value: /api/orders } }
      backends: ${backends}
      migration: ${migration}
    - name: cart-api
      match: { path: { value: /api/cart } }
      backends: [{ service: cart, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
`),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
}

const weights = (table: ReturnType<typeof compileRouteTable>, route: string) =>
  Object.fromEntries(
    (table.routes.find((r) => r.name === route)?.backends ?? []).map((b) => [b.name, b.weight]),
  );

describe('migration weights in the route table', () => {
  const spec = '[{ service: orders, port: 80, weight: 100 }, { monolith: true, weight: 0 }]';

  test('a migrating route gets the effective weight; the monolith the rest', () => {
    const table = compileRouteTable(apiRoute(spec), {
      migrationWeights: new Map([['orders-api', 25]]),
    });
    expect(weights(table, 'orders-api')).toEqual({ orders: 25, monolith: 75 });
    expect(table.routes[0]?.newServicePercent).toBe(25);
    // A route without a migration keeps its spec weights.
    expect(weights(table, 'cart-api')).toEqual({ cart: 30, monolith: 70 });
  });

  test('without a state the migrating route sends nothing to the new service', () => {
    const table = compileRouteTable(apiRoute(spec));
    expect(weights(table, 'orders-api')).toEqual({ orders: 0, monolith: 100 });
  });

  test('the monolith is added when the spec lists only the new service', () => {
    const table = compileRouteTable(apiRoute('[{ service: orders, port: 80, weight: 100 }]'), {
      migrationWeights: new Map([['orders-api', 5]]),
    });
    expect(table.routes[0]?.backends.map((b) => [b.name, b.weight, b.monolith])).toEqual([
      ['orders', 5, false],
      ['monolith', 95, true],
    ]);
  });

  test('several new services share the step in proportion to their spec weights', () => {
    const table = compileRouteTable(
      apiRoute(
        '[{ service: orders, port: 80, weight: 60 }, { url: "https://orders.example.com", weight: 20 }, { monolith: true, weight: 20 }]',
      ),
      { migrationWeights: new Map([['orders-api', 25]]) },
    );
    expect(weights(table, 'orders-api')).toEqual({
      orders: 19,
      'orders.example.com': 6,
      monolith: 75,
    });
  });

  test('the table hash follows the effective weight, so each step is a new config', () => {
    const at = (w: number) =>
      compileRouteTable(apiRoute(spec), { migrationWeights: new Map([['orders-api', w]]) }).hash;
    expect(at(5)).not.toBe(at(25));
    expect(at(25)).toBe(at(25));
  });
});

describe('apportion', () => {
  test.each([
    [25, [60, 20], [19, 6]],
    [100, [1, 1, 1], [34, 33, 33]],
    [10, [0, 0], [5, 5]],
    [0, [50, 50], [0, 0]],
  ])('%p over %j → %j', (total, shares, expected) => {
    expect(apportion(total, shares)).toEqual(expected);
  });

  test('always sums to the total, in whole percents', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 8 }),
        (total, shares) => {
          const out = apportion(total, shares);
          return out.reduce((a, b) => a + b, 0) === total && out.every((w) => Number.isInteger(w));
        },
      ),
    );
  });
});
