// `figway migration`: what status prints, which routes a command reaches, the patch it
// sends (annotations only, never spec). The command runs against a real API server and
// operator in test/e2e/migration.test.ts.
import { describe, expect, test } from '@jest/globals';
import {
  commandPatch,
  commandTargets,
  formatMigrationStatus,
  type ApiRouteView,
} from '../../../../src/operator/migration/cli.js';

const NOW = Date.parse('2025-06-01T10:05:00Z');

const apiRoute: ApiRouteView = {
  metadata: {
    name: 'orders',
    namespace: 'shop',
    annotations: { 'migration.figway.dev/orders-api': 'pause 2025-06-01T10:04:59.000Z' },
  },
  spec: {
    routes: [
      { name: 'orders-api', migration: { steps: [5, 25, 50, 100] } },
      { name: 'cart-api' },
      { name: 'fresh', migration: { steps: [5, 100] } },
    ],
  },
  status: {
    routes: [
      {
        name: 'orders-api',
        newServicePercent: 25,
        migration: {
          phase: 'WaitingForTraffic',
          step: 1,
          weight: 25,
          since: '2025-06-01T10:00:00.000Z',
          message: 'step 2/4 (25%): inconclusive: waiting for 40 more requests (…)',
          plan: { steps: [5, 25, 50, 100], newBackends: ['orders'] },
          lastAnalysis: {
            at: '2025-06-01T10:04:30.000Z',
            requests: 60,
            newErrorRatio: 0,
            monolithErrorRatio: 0.002,
            verdict: 'inconclusive',
            reason:
              'inconclusive: waiting for 40 more requests (60 of minRequests 100 on the new service)',
          },
        },
      },
      { name: 'cart-api', newServicePercent: 30 },
    ],
  },
};

describe('figway migration status', () => {
  test('prints each route: phase, step, clock, verdict with counts, and a pending command', () => {
    expect(formatMigrationStatus(apiRoute, NOW)).toBe(
      [
        'ApiRoute shop/orders',
        '  orders-api: WaitingForTraffic at step 2/4 (25%) since 2025-06-01T10:00:00.000Z (5m ago)',
        '    steps     5% → 25% → 50% → 100%',
        '    message   step 2/4 (25%): inconclusive: waiting for 40 more requests (…)',
        '    verdict   inconclusive at 2025-06-01T10:04:30.000Z: 60 new-service requests, 5xx 0% vs monolith 0.2%',
        '    reason    inconclusive: waiting for 40 more requests (60 of minRequests 100 on the new service)',
        '    pending   pause 2025-06-01T10:04:59.000Z (not yet acted on by the operator)',
        '  cart-api: no migration (30% to the new service, from spec)',
        '  fresh: not started yet (the operator has not reconciled it)',
        '',
      ].join('\n'),
    );
  });
});

describe('figway migration promote|pause|resume|abort', () => {
  test('without ROUTE: every route with a migration', () => {
    expect(commandTargets(apiRoute, undefined)).toEqual(['orders-api', 'fresh']);
  });

  test.each([
    ['nope', 'ApiRoute shop/orders has no route "nope"; its routes: orders-api, cart-api, fresh'],
    [
      'cart-api',
      'route cart-api of ApiRoute shop/orders has no migration: add spec.routes[].migration',
    ],
  ])('ROUTE %s is refused, naming why', (route, message) => {
    expect(() => commandTargets(apiRoute, route)).toThrow(message);
  });

  test('the patch touches annotations only, one per route, each command unique', () => {
    expect(commandPatch('abort', ['orders-api', 'fresh'], '2025-06-01T10:05:00.000Z')).toEqual({
      metadata: {
        annotations: {
          'migration.figway.dev/orders-api': 'abort 2025-06-01T10:05:00.000Z',
          'migration.figway.dev/fresh': 'abort 2025-06-01T10:05:00.000Z',
        },
      },
    });
  });
});
