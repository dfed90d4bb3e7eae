// The operator's migration series: one set per migrating route, removed when the route
// stops migrating, when its ApiRoute goes, and when this replica stops leading.
import { describe, expect, test } from '@jest/globals';
import type { ApiRouteStatus } from '../../../src/api/index.js';
import { OperatorMetrics } from '../../../src/operator/metrics.js';

function status(
  routes: { name: string; phase?: 'Progressing' | 'RolledBack'; weight?: number }[],
): ApiRouteStatus {
  return {
    routes: routes.map((r) => ({
      name: r.name,
      newServicePercent: r.weight ?? 0,
      ...(r.phase !== undefined && {
        migration: {
          phase: r.phase,
          step: 1,
          weight: r.weight ?? 0,
          since: '2026-01-01T00:00:00.000Z',
          message: '',
          plan: { steps: [5, 25, 100], newBackends: ['orders'] },
        },
      }),
    })),
  };
}

async function series(metrics: OperatorMetrics, name: string): Promise<string[]> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map(
    (v) =>
      `${Object.entries(v.labels)
        .map(([k, l]) => `${k}=${String(l)}`)
        .join(',')} ${v.value}`,
  );
}

describe('migration metrics', () => {
  test('weight, target and a 1 for the phase the route is in', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.recordMigrations(
      'shop/orders',
      status([{ name: 'api', phase: 'Progressing', weight: 25 }, { name: 'plain' }]),
    );
    expect(await series(metrics, 'figway_operator_migration_weight')).toEqual([
      'namespace=shop,apiroute=orders,route=api 25',
    ]);
    expect(await series(metrics, 'figway_operator_migration_target_weight')).toEqual([
      'namespace=shop,apiroute=orders,route=api 100',
    ]);
    const phases = await series(metrics, 'figway_operator_migration_phase');
    expect(phases).toHaveLength(6);
    expect(phases.filter((p) => p.endsWith(' 1'))).toEqual([
      'namespace=shop,apiroute=orders,route=api,phase=Progressing 1',
    ]);
  });

  test('series go with the migration, the ApiRoute, or the leadership', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.recordMigrations(
      'shop/orders',
      status([
        { name: 'api', phase: 'RolledBack' },
        { name: 'b', phase: 'Progressing' },
      ]),
    );
    metrics.recordMigrations('shop/orders', status([{ name: 'b', phase: 'Progressing' }]));
    expect(await series(metrics, 'figway_operator_migration_weight')).toEqual([
      'namespace=shop,apiroute=orders,route=b 0',
    ]);
    metrics.recordMigrations('shop/cart', status([{ name: 'c', phase: 'Progressing', weight: 5 }]));
    metrics.recordMigrations('shop/orders', undefined);
    expect(await series(metrics, 'figway_operator_migration_weight')).toEqual([
      'namespace=shop,apiroute=cart,route=c 5',
    ]);
    metrics.forgetMigrations();
    expect(await series(metrics, 'figway_operator_migration_weight')).toEqual([]);
    expect(await series(metrics, 'figway_operator_migration_phase')).toEqual([]);
  });
});
