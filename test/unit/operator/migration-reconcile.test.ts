// reconcile() of a migrating ApiRoute against an in-memory cluster and a scripted
// observation source: the route table carries the state's weight, status holds the
// state, an Event marks every step, the key is requeued for the next check, and a new
// operator (or one whose cache lags behind its own write) never takes a step twice.
import { beforeEach, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { createLogger } from '../../../src/common/logger.js';
import { EventRecorder } from '../../../src/operator/events.js';
import type {
  ObservationQuery,
  ObservationSource,
} from '../../../src/operator/migration/source.js';
import type { ObservationResult } from '../../../src/operator/migration/state-machine.js';
import { Reconciler, type RawApiRoute } from '../../../src/operator/reconciler.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import { FakeCluster } from './fake-cluster.js';

const KEY = 'shop/orders';
const T0 = Date.parse('2026-01-01T00:00:00Z');

function apiRoute(resourceVersion = '1', annotations: Record<string, string> = {}): RawApiRoute {
  const raw = parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop, uid: u-1, generation: 1, resourceVersion: "${resourceVersion}" }
spec:
  monolith: { service: legacy, port: 8080 }
  gateway: { replicas: 1 }
  routes:
    - name: api
      match: { path: { value: /api } }
      backends: [{ service: orders, port: 80, weight: 100 }]
      migration:
        steps: [5, 25, 100]
        interval: 1m
        analysis: { maxErrorRatioIncrease: 0.05, minRequests: 50 }
`) as RawApiRoute;
  raw.metadata.annotations = annotations;
  return raw;
}

/** Answers every query with what the test sets; records the windows asked for. */
class ScriptedSource implements ObservationSource {
  readonly description = 'scripted';
  answer: ObservationResult = {
    ok: true,
    observations: {
      newService: { requests: 0, errors: 0 },
      monolith: { requests: 0, errors: 0 },
    },
  };
  asked: ObservationQuery[] = [];
  observe(query: ObservationQuery): Promise<ObservationResult> {
    this.asked.push(query);
    return Promise.resolve(this.answer);
  }
  healthy(requests: number) {
    this.answer = {
      ok: true,
      observations: {
        newService: { requests, errors: 0 },
        monolith: { requests: requests * 4, errors: 0 },
      },
    };
  }
}

describe('reconciling a migration', () => {
  let cluster: FakeCluster;
  let source: ScriptedSource;
  let now: number;
  let requeues: [string, number][];
  const reconciler = () =>
    new Reconciler({
      cache: cluster,
      writer: cluster,
      events: new EventRecorder(cluster, { instance: 'test', now: () => now }),
      settings: DEFAULT_SETTINGS,
      isLeader: () => true,
      logger: createLogger({ component: 'operator', silent: true }),
      now: () => new Date(now),
      observations: source,
      requeueAfter: (key, ms) => requeues.push([key, ms]),
    });

  const served = () => {
    const cm = cluster.objects.get('ConfigMap/shop/orders-gateway') as {
      data: Record<string, string>;
    };
    const table = JSON.parse(cm.data['routes.json'] ?? '{}') as {
      routes: { backends: { name: string; weight: number }[] }[];
    };
    return Object.fromEntries(table.routes[0]?.backends.map((b) => [b.name, b.weight]) ?? []);
  };
  const migration = () => cluster.statuses.at(-1)?.routes?.[0]?.migration;
  const reasons = () => cluster.events.map((e) => e.reason);

  beforeEach(() => {
    cluster = new FakeCluster();
    source = new ScriptedSource();
    now = T0;
    requeues = [];
    cluster.apiRoutes.set(KEY, apiRoute());
  });

  test('starts at 0%, takes the first step once the source sees the route, steps up on a pass', async () => {
    const operator = reconciler();
    source.answer = { ok: false, reason: 'Prometheus has no series for the route' };
    await operator.reconcile(KEY);
    expect(served()).toEqual({ orders: 0, monolith: 100 });
    expect(migration()).toMatchObject({ phase: 'Pending', weight: 0 });
    const migrating = cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Migrating');
    expect(migrating).toMatchObject({
      status: 'True',
      reason: 'Pending',
      message: 'api: not started: Prometheus has no series for the route',
    });
    expect(requeues.at(-1)).toEqual([KEY, 30_000]);

    now += 30_000;
    source.healthy(0);
    await operator.reconcile(KEY);
    expect(served()).toEqual({ orders: 5, monolith: 95 });
    expect(migration()).toMatchObject({ phase: 'Progressing', step: 0, weight: 5 });
    expect(cluster.statuses.at(-1)?.routes?.[0]?.newServicePercent).toBe(5);
    expect(reasons()).toContain('MigrationStarted');
    expect(cluster.events.find((e) => e.reason === 'MigrationStarted')?.message).toMatch(
      /^route api: step 1\/3 \(5%\): 0% → 5%/,
    );
    expect(requeues.at(-1)).toEqual([KEY, 30_000]);

    // Checked half-way: judged, not promoted; at the end of the interval: promoted.
    now += 30_000;
    source.healthy(400);
    await operator.reconcile(KEY);
    expect(migration()).toMatchObject({ phase: 'Progressing', step: 0 });
    expect(source.asked.at(-1)).toMatchObject({
      namespace: 'shop',
      apiRoute: 'orders',
      route: 'api',
      newBackends: ['orders'],
      fromMs: T0 + 30_000,
      toMs: T0 + 60_000,
    });
    now += 30_000;
    await operator.reconcile(KEY);
    expect(served()).toEqual({ orders: 25, monolith: 75 });
    expect(migration()).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(reasons().filter((r) => r === 'MigrationStepUp')).toHaveLength(1);
  });

  test('a failing step rolls the route table back to 0% with a Warning Event and Migrating=False', async () => {
    const operator = reconciler();
    await operator.reconcile(KEY);
    now += 30_000;
    source.answer = {
      ok: true,
      observations: {
        newService: { requests: 100, errors: 20 },
        monolith: { requests: 400, errors: 0 },
      },
    };
    await operator.reconcile(KEY);
    expect(served()).toEqual({ orders: 0, monolith: 100 });
    expect(migration()).toMatchObject({ phase: 'RolledBack', weight: 0 });
    expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'MigrationRolledBack' });
    expect(cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Migrating')).toMatchObject({
      status: 'False',
      reason: 'RolledBack',
    });
  });

  test('a cache that has not seen the status just written does not take the step again', async () => {
    const operator = reconciler();
    await operator.reconcile(KEY);
    const before = structuredClone(cluster.apiRoutes.get(KEY) as RawApiRoute);
    now += 60_000;
    source.healthy(400);
    await operator.reconcile(KEY);
    expect(migration()).toMatchObject({ step: 1 });
    // The informer still serves the ApiRoute as it was before the status write.
    cluster.apiRoutes.set(KEY, before);
    now += 1000;
    await operator.reconcile(KEY);
    expect(migration()).toMatchObject({ step: 1, since: new Date(T0 + 60_000).toISOString() });
    expect(reasons().filter((r) => r === 'MigrationStepUp')).toHaveLength(1);
  });

  test('a new operator (restart, leader change) continues from status: same step, same clock', async () => {
    await reconciler().reconcile(KEY);
    now += 30_000;
    const next = reconciler();
    source.healthy(400);
    await next.reconcile(KEY);
    expect(migration()).toMatchObject({ phase: 'Progressing', step: 0 });
    expect(source.asked.at(-1)).toMatchObject({ fromMs: T0, toMs: T0 + 30_000 });
    now += 30_000;
    await next.reconcile(KEY);
    expect(migration()).toMatchObject({ step: 1 });
    expect(reasons().filter((r) => r === 'MigrationStarted')).toHaveLength(1);
  });

  test('a command annotation acts once: pause holds the weight and stops the checks', async () => {
    const operator = reconciler();
    await operator.reconcile(KEY);
    const status = cluster.apiRoutes.get(KEY)?.status;
    cluster.apiRoutes.set(KEY, {
      ...apiRoute('2', { 'migration.figway.dev/api': 'pause 2026-01-01T00:00:10.000Z' }),
      ...(status && { status }),
    });
    now += 10_000;
    requeues = [];
    await operator.reconcile(KEY);
    expect(migration()).toMatchObject({
      phase: 'Paused',
      pausedBy: 'user',
      weight: 5,
      command: 'pause 2026-01-01T00:00:10.000Z',
    });
    expect(requeues).toEqual([]);
    expect(cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Migrating')).toMatchObject({
      status: 'False',
      reason: 'PausedByUser',
    });
    const events = cluster.events.length;
    await operator.reconcile(KEY);
    expect(cluster.events).toHaveLength(events);
  });

  test('removing the migration drops its state and its condition; the spec weights apply', async () => {
    const operator = reconciler();
    await operator.reconcile(KEY);
    const raw = apiRoute('3');
    const route = (raw.spec as { routes: Record<string, unknown>[] }).routes[0] as Record<
      string,
      unknown
    >;
    delete route.migration;
    const status = cluster.apiRoutes.get(KEY)?.status;
    cluster.apiRoutes.set(KEY, { ...raw, ...(status && { status }) });
    await operator.reconcile(KEY);
    expect(served()).toEqual({ orders: 100 });
    expect(migration()).toBeUndefined();
    expect(cluster.statuses.at(-1)?.conditions?.map((c) => c.type)).not.toContain('Migrating');
  });
});
