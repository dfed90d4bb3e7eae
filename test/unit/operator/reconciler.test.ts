// reconcile() against an in-memory cluster: what it writes, in which order, and what it
// refuses to write. The same flows run against a real API server in test/integration.
import { beforeEach, describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { createLogger } from '../../../src/common/logger.js';
import { OWNED_KINDS } from '../../../src/operator/desired-state/index.js';
import { EventRecorder } from '../../../src/operator/events.js';
import { TerminalError } from '../../../src/operator/queue.js';
import {
  APPLIED_ANNOTATION,
  ConflictError,
  NotLeaderError,
  Reconciler,
  type RawApiRoute,
} from '../../../src/operator/reconciler.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import { FakeCluster } from './fake-cluster.js';

const UID = '11111111-2222-4333-8444-555555555555';

function apiRoute(
  over: {
    weight?: number;
    replicas?: number;
    regex?: string;
    generation?: number;
    podAnnotations?: Record<string, string>;
  } = {},
): RawApiRoute {
  const weight = over.weight ?? 10;
  const annotations = over.podAnnotations
    ? `, podAnnotations: ${JSON.stringify(over.podAnnotations)}`
    : '';
  return parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop, uid: ${UID}, generation: ${over.generation ?? 1}, resourceVersion: "7" }
spec:
  monolith: { service: legacy, port: 8080 }
  gateway: { replicas: ${over.replicas ?? 2}${annotations} }
  routes:
    - name: api
      match:
        path: ${over.regex !== undefined ? `{ type: RegularExpression, value: '${over.regex}' }` : '{ value: /api }'}
      backends: [{ service: orders, port: 80, weight: ${weight} }, { monolith: true, weight: ${100 - weight} }]
`) as RawApiRoute;
}

/** What a gateway with a fixed replica count has: every owned kind but the autoscaler. */
const FIXED_REPLICA_KINDS = OWNED_KINDS.filter((k) => k.kind !== 'HorizontalPodAutoscaler');

describe('Reconciler', () => {
  let cluster: FakeCluster;
  let leader: boolean;
  let reconciler: Reconciler;

  beforeEach(() => {
    cluster = new FakeCluster();
    leader = true;
    reconciler = newReconciler('test');
  });

  /** A reconciler on `cluster`; another instance is what a restarted operator runs. */
  const newReconciler = (instance: string) =>
    new Reconciler({
      cache: cluster,
      writer: cluster,
      events: new EventRecorder(cluster, { instance }),
      settings: DEFAULT_SETTINGS,
      isLeader: () => leader,
      logger: createLogger({ component: 'operator', silent: true }),
      now: () => new Date('2026-01-01T00:00:00Z'),
    });

  test('creates every owned object, in order, without a read first, then Ready status and an Event', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toEqual([
      ...FIXED_REPLICA_KINDS.map((k) => `create ${k.kind}/shop/orders-gateway`),
      'status shop/orders',
    ]);
    // Create-first: nothing the cache does not hold is read to check its owner first.
    expect(cluster.reads).toEqual([]);
    const status = cluster.statuses[0];
    expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status?.observedGeneration).toBe(1);
    // The printer columns of `kubectl get apiroutes` read these.
    expect(status).toMatchObject({ routeCount: 1, monolith: 'legacy:8080', newServicePercent: 10 });
    expect(cluster.events.map((e) => [e.type, e.reason])).toEqual([['Normal', 'GatewayCreated']]);
    expect(cluster.events[0]?.involvedObject).toMatchObject({
      kind: 'ApiRoute',
      name: 'orders',
      uid: UID,
    });
  });

  test('a second reconcile of an unchanged ApiRoute writes nothing and posts no Event', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toEqual([]);
    expect(cluster.events).toHaveLength(1);
  });

  test('an owned field someone else changed is applied again, and only that object', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    const service = cluster.objects.get('Service/shop/orders-gateway') as {
      spec: { ports: { port: number }[] };
    };
    service.spec.ports[0]!.port = 9999;
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toEqual(['apply Service/shop/orders-gateway']);
  });

  test('a field dropped from the desired state is applied away, though the live object still has it', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute({ podAnnotations: { team: 'orders' } }));
    await reconciler.reconcile('shop/orders');
    cluster.apiRoutes.set('shop/orders', {
      ...apiRoute({ generation: 2 }),
      status: cluster.apiRoutes.get('shop/orders')?.status,
    });
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toContain('apply Deployment/shop/orders-gateway');
    const deployment = cluster.objects.get('Deployment/shop/orders-gateway') as {
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    };
    expect(deployment.spec.template.metadata.annotations?.team).toBeUndefined();
  });

  test('a new leadership term or a restarted operator writes nothing for objects that carry what is desired', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    reconciler.forgetWrites();
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    // A restarted operator's caches come from lists, whose items have no apiVersion or kind.
    for (const obj of cluster.objects.values()) {
      delete obj.apiVersion;
      delete obj.kind;
    }
    await newReconciler('restarted').reconcile('shop/orders');
    expect(cluster.writes).toEqual([]);
    expect(cluster.reads).toEqual([]);
  });

  test('an object last applied with another desired state (another operator version) is applied again', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    const role = cluster.objects.get('Role/shop/orders-gateway') as KubernetesObject;
    role.metadata!.annotations![APPLIED_ANNOTATION] = 'what-an-older-operator-applied';
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toEqual(['apply Role/shop/orders-gateway']);
  });

  test('a create that finds its object (the cache behind) checks the owner and applies only a change', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    cluster.uncached.add('ConfigMap/shop/orders-gateway');
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toEqual(['create ConfigMap/shop/orders-gateway (exists)']);
    expect(cluster.reads).toEqual(['read ConfigMap/shop/orders-gateway']);
    cluster.apiRoutes.set('shop/orders', { ...apiRoute({ weight: 30, generation: 2 }) });
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toContain('apply ConfigMap/shop/orders-gateway');
  });

  test('a create that finds an object someone else owns (not in the cache, no label) is a conflict', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    cluster.objects.set('ConfigMap/shop/orders-gateway', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'orders-gateway', namespace: 'shop', uid: 'theirs' },
      data: { keep: 'me' },
    } as KubernetesObject);
    cluster.uncached.add('ConfigMap/shop/orders-gateway');
    await expect(reconciler.reconcile('shop/orders')).rejects.toBeInstanceOf(ConflictError);
    expect(cluster.writes.filter((w) => w.includes('ConfigMap'))).toEqual([
      'create ConfigMap/shop/orders-gateway (exists)',
    ]);
    expect(cluster.writes).not.toContain('create Deployment/shop/orders-gateway');
    expect(
      (cluster.objects.get('ConfigMap/shop/orders-gateway') as { data: unknown }).data,
    ).toEqual({ keep: 'me' });
  });

  test('a weight edit updates the ConfigMap and posts ConfigUpdated', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    cluster.apiRoutes.set('shop/orders', {
      ...apiRoute({ weight: 60, generation: 2 }),
      status: cluster.apiRoutes.get('shop/orders')?.status,
    });
    await reconciler.reconcile('shop/orders');
    const cm = cluster.objects.get('ConfigMap/shop/orders-gateway') as {
      data: Record<string, string>;
    };
    expect(JSON.parse(cm.data['routes.json'] ?? '{}')).toMatchObject({
      routes: [{ newServicePercent: 60 }],
    });
    expect(cluster.events.map((e) => e.reason)).toEqual(['GatewayCreated', 'ConfigUpdated']);
    expect(cluster.statuses.at(-1)?.routes).toEqual([{ name: 'api', newServicePercent: 60 }]);
  });

  test.each([
    ['a regex that does not parse', '/api/(', 'is not a valid RE2 regular expression'],
    ['a regex with lookahead, which RE2 cannot run', '/api/(?!internal).*', 'uses lookahead'],
  ])(
    'invalid input (%s): Accepted=False naming the field, an Event, nothing applied, not retried',
    async (_what, regex, message) => {
      cluster.apiRoutes.set('shop/orders', apiRoute());
      await reconciler.reconcile('shop/orders');
      const configMapBefore = structuredClone(cluster.objects.get('ConfigMap/shop/orders-gateway'));
      cluster.writes = [];
      cluster.apiRoutes.set('shop/orders', {
        ...apiRoute({ regex, generation: 2 }),
        status: cluster.apiRoutes.get('shop/orders')?.status,
      });
      await expect(reconciler.reconcile('shop/orders')).rejects.toBeInstanceOf(TerminalError);
      expect(cluster.writes).toEqual(['status shop/orders']);
      const accepted = cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Accepted');
      expect(accepted).toMatchObject({ status: 'False', reason: 'Invalid', observedGeneration: 2 });
      expect(accepted?.message).toMatch(`spec.routes[0].match.path.value: ${message}`);
      expect(cluster.objects.get('ConfigMap/shop/orders-gateway')).toEqual(configMapBefore);
      expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'InvalidSpec' });
    },
  );

  test('a missing Secret: Accepted=False naming it, an Event, nothing applied, retried until it exists', async () => {
    const withKeys = (generation: number): RawApiRoute => {
      const route = apiRoute({ generation });
      (route.spec as { routes: { auth?: unknown }[] }).routes[0]!.auth = {
        apiKey: { secretRef: { name: 'orders-keys' } },
      };
      return route;
    };
    cluster.apiRoutes.set('shop/orders', apiRoute());
    await reconciler.reconcile('shop/orders');
    const configMapBefore = structuredClone(cluster.objects.get('ConfigMap/shop/orders-gateway'));
    cluster.writes = [];
    cluster.apiRoutes.set('shop/orders', {
      ...withKeys(2),
      status: cluster.apiRoutes.get('shop/orders')?.status,
    });
    const failure = reconciler.reconcile('shop/orders');
    await expect(failure).rejects.toThrow('names missing Secrets orders-keys');
    await expect(failure).rejects.not.toBeInstanceOf(TerminalError);
    expect(cluster.writes).toEqual(['status shop/orders']);
    const accepted = cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(accepted?.message).toMatch('Secret shop/orders-keys not found');
    expect(cluster.objects.get('ConfigMap/shop/orders-gateway')).toEqual(configMapBefore);
    expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'SecretNotFound' });

    cluster.objects.set('Secret/shop/orders-keys', {
      kind: 'Secret',
      metadata: { name: 'orders-keys', namespace: 'shop' },
    });
    await reconciler.reconcile('shop/orders');
    const role = cluster.objects.get('Role/shop/orders-gateway') as { rules: unknown[] };
    expect(role.rules).toContainEqual({
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['orders-keys'],
      verbs: ['get', 'list', 'watch'],
    });
    expect(cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({
      status: 'True',
    });
  });

  test('a name too long for its Service is invalid input, not an API error', async () => {
    const long = apiRoute();
    long.metadata.name = 'a'.repeat(60);
    cluster.apiRoutes.set(`shop/${long.metadata.name}`, long);
    await expect(reconciler.reconcile(`shop/${long.metadata.name}`)).rejects.toThrow(
      /metadata\.name: must be at most 55 characters/,
    );
    expect(cluster.writes.filter((w) => w.startsWith('apply'))).toEqual([]);
  });

  test('an existing object not controlled by this ApiRoute is never overwritten: Conflict', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    cluster.objects.set('Service/shop/orders-gateway', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'orders-gateway', namespace: 'shop', uid: 'theirs' },
    });
    const error = await reconciler.reconcile('shop/orders').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain(
      'Service shop/orders-gateway already exists and is not controlled by any object',
    );
    expect(cluster.writes).toEqual(['status shop/orders']);
    expect(cluster.statuses[0]?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'Conflict',
    });
    expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'Conflict' });
  });

  test('an object controlled by another ApiRoute uid (a deleted predecessor) is a conflict too', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    cluster.objects.set('ConfigMap/shop/orders-gateway', {
      kind: 'ConfigMap',
      metadata: {
        name: 'orders-gateway',
        namespace: 'shop',
        ownerReferences: [
          {
            apiVersion: 'figway.dev/v1alpha1',
            kind: 'ApiRoute',
            name: 'orders',
            uid: 'old',
            controller: true,
          },
        ],
      },
    });
    await expect(reconciler.reconcile('shop/orders')).rejects.toBeInstanceOf(ConflictError);
  });

  test('prunes the PodDisruptionBudget when replicas drop to 1, by uid precondition', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute({ replicas: 2 }));
    await reconciler.reconcile('shop/orders');
    const pdbUid = cluster.objects.get('PodDisruptionBudget/shop/orders-gateway')?.metadata?.uid;
    cluster.apiRoutes.set('shop/orders', {
      ...apiRoute({ replicas: 1, generation: 2 }),
      status: cluster.apiRoutes.get('shop/orders')?.status,
    });
    cluster.writes = [];
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes).toContain(
      `delete PodDisruptionBudget/shop/orders-gateway uid=${pdbUid ?? ''}`,
    );
    expect(cluster.writes.filter((w) => w.startsWith('apply PodDisruptionBudget'))).toEqual([]);
    expect(cluster.events.at(-1)).toMatchObject({ reason: 'Pruned' });
  });

  test('never prunes objects another ApiRoute controls', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute({ replicas: 1 }));
    cluster.objects.set('PodDisruptionBudget/shop/orders-gateway', {
      kind: 'PodDisruptionBudget',
      metadata: {
        name: 'orders-gateway',
        namespace: 'shop',
        labels: { 'figway.dev/apiroute': 'orders' },
        ownerReferences: [
          {
            apiVersion: 'figway.dev/v1alpha1',
            kind: 'ApiRoute',
            name: 'orders',
            uid: 'someone-else',
            controller: true,
          },
        ],
      },
    });
    await reconciler.reconcile('shop/orders');
    expect(cluster.writes.filter((w) => w.startsWith('delete'))).toEqual([]);
  });

  test('an API failure is reported in status and an Event, with context, and rethrown for retry', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    cluster.failApply = 'Deployment';
    const error = await reconciler.reconcile('shop/orders').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TerminalError);
    expect((error as Error).message).toBe(
      'failed to create Deployment/shop/orders-gateway: etcdserver: request timed out',
    );
    const degraded = cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'ReconcileFailed' });
    expect(cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.status).toBe(
      'False',
    );
    expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'ReconcileFailed' });
  });

  test('a replica that is not the leader writes nothing', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    leader = false;
    await expect(reconciler.reconcile('shop/orders')).rejects.toBeInstanceOf(NotLeaderError);
    expect(cluster.writes).toEqual([]);
    expect(cluster.events).toEqual([]);
  });

  test('losing leadership mid-reconcile stops before the next write', async () => {
    cluster.apiRoutes.set('shop/orders', apiRoute());
    const create = cluster.create.bind(cluster);
    cluster.create = <T extends KubernetesObject>(obj: T) => {
      if (obj.kind === 'ConfigMap') leader = false;
      return create(obj);
    };
    await expect(reconciler.reconcile('shop/orders')).rejects.toBeInstanceOf(NotLeaderError);
    expect(cluster.writes.at(-1)).toBe('create ConfigMap/shop/orders-gateway');
  });

  test('a deleted ApiRoute needs nothing: the garbage collector removes its objects', async () => {
    await expect(reconciler.reconcile('shop/gone')).resolves.toBeUndefined();
    expect(cluster.writes).toEqual([]);
  });
});
