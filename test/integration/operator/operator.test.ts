// The operator against a real kube-apiserver, controller-manager (garbage collector,
// Deployment controller) and kwok (pods become Ready): create, edit, drift, invalid input,
// conflicts, pruning and deletion, as issue 5 lists them. One operator watches this file's
// own namespace, so test files running in parallel never see each other's ApiRoutes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  PolicyV1Api,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GROUP,
  PLURAL,
  ROUTE_TABLE_KEY,
  VERSION,
  parseRouteTable,
} from '../../../src/api/index.js';
import {
  CONFIG_HASH_ANNOTATION,
  FIELD_MANAGER,
} from '../../../src/operator/desired-state/index.js';
import { KubeClusterWriter } from '../../../src/operator/kube.js';
import { APPLIED_ANNOTATION } from '../../../src/operator/reconciler.js';
import { testClusterEnv } from '../../cluster/env.js';
import {
  apiRouteManifest,
  clients,
  condition,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  eventually,
  getApiRoute,
  installCrd,
  kubeConfig,
  notFound,
  patchApiRoute,
  setWeight,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

describeCluster('operator on a real control plane', () => {
  let kc: KubeConfig;
  let ns: string;
  let op: RunningOperator | undefined;
  let c: ReturnType<typeof clients>;
  let rbac: RbacAuthorizationV1Api;
  let policy: PolicyV1Api;
  /** Every server-side apply the operator makes, as kind/name. */
  const applies: string[] = [];
  /** Every request of the operator's writer (creates, reads, applies, status, Events), as verb kind. */
  const requests: string[] = [];

  const configMap = () => c.core.readNamespacedConfigMap({ name: 'orders-gateway', namespace: ns });
  const running = () => {
    if (!op) throw new Error('the operator did not start');
    return op;
  };
  const reconcileCount = async () => {
    const metric = await running().metrics.reconciles.get();
    return metric.values.reduce((sum, v) => sum + v.value, 0);
  };

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    c = clients(kc);
    rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    policy = kc.makeApiClient(PolicyV1Api);
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'op');
    const writer = new KubeClusterWriter(kc);
    const apply = writer.apply.bind(writer);
    writer.apply = (obj) => {
      applies.push(`${obj.kind ?? ''}/${obj.metadata?.name ?? ''}`);
      requests.push(`apply ${obj.kind ?? ''}`);
      return apply(obj);
    };
    const create = writer.create.bind(writer);
    writer.create = (obj) => {
      requests.push(`create ${obj.kind ?? ''}`);
      return create(obj);
    };
    const read = writer.read.bind(writer);
    writer.read = (obj) => {
      requests.push(`read ${obj.kind ?? ''}`);
      return read(obj);
    };
    const patchStatus = writer.patchApiRouteStatus.bind(writer);
    writer.patchApiRouteStatus = (namespace, name, status) => {
      requests.push('status ApiRoute');
      return patchStatus(namespace, name, status);
    };
    const createEvent = writer.createEvent.bind(writer);
    writer.createEvent = (event) => {
      requests.push('create Event');
      return createEvent(event);
    };
    op = await startOperator(kc, {
      writer,
      namespaces: [ns],
      leaseName: 'figway-operator',
      leaseNamespace: ns,
    });
  }, 60_000);

  afterAll(async () => {
    await op?.stop();
    await deleteNamespace(kc, ns);
  });

  test('create: every owned object exists with a controller reference, kwok makes the Deployment Available, Ready=True', async () => {
    // Quantities in forms the API server rewrites (0.5 → 500m, 1.5Gi → 1536Mi), so that
    // the 'unchanged' test below also proves the operator writes the canonical forms.
    await createApiRoute(
      kc,
      apiRouteManifest(ns, 'orders', {
        weight: 10,
        replicas: 2,
        resources: { requests: { cpu: '0.5', memory: '1.5Gi' }, limits: { memory: '2048Mi' } },
      }),
    );
    const route = await waitForCondition(kc, ns, 'orders', 'Ready', 'True', 90_000);
    const uid = route.metadata.uid;
    const owned = await Promise.all([
      c.core.readNamespacedServiceAccount({ name: 'orders-gateway', namespace: ns }),
      rbac.readNamespacedRole({ name: 'orders-gateway', namespace: ns }),
      rbac.readNamespacedRoleBinding({ name: 'orders-gateway', namespace: ns }),
      configMap(),
      c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns }),
      c.apps.readNamespacedDeployment({ name: 'orders-gateway', namespace: ns }),
      policy.readNamespacedPodDisruptionBudget({ name: 'orders-gateway', namespace: ns }),
    ]);
    for (const obj of owned) {
      expect(obj.metadata?.labels?.['figway.dev/apiroute']).toBe('orders');
      expect(obj.metadata?.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'ApiRoute',
          name: 'orders',
          uid,
          controller: true,
          blockOwnerDeletion: true,
        }),
      ]);
      // Created (one request, no ownership read first): the create's fields are the
      // operator's Update entry until the first change moves them into its Apply entry.
      expect(obj.metadata?.managedFields?.some((m) => m.manager === FIELD_MANAGER)).toBe(true);
      expect(obj.metadata?.annotations?.[APPLIED_ANNOTATION]).toBeDefined();
    }
    // Issue 18: a new ApiRoute costs one create per object, no reads and no applies, one
    // Event, and a status write per reconcile that changes it (Accepted, then the rollout).
    expect(requests.filter((r) => r.startsWith('create ') && r !== 'create Event')).toHaveLength(
      owned.length,
    );
    expect(requests.filter((r) => r.startsWith('read ') || r.startsWith('apply '))).toEqual([]);
    expect(requests.filter((r) => r === 'create Event')).toHaveLength(1);
    const statusWrites = requests.filter((r) => r === 'status ApiRoute').length;
    expect(statusWrites).toBeLessThanOrEqual(await reconcileCount());
    const deployment = await c.apps.readNamespacedDeployment({
      name: 'orders-gateway',
      namespace: ns,
    });
    expect(deployment.status?.availableReplicas).toBe(2);
    const cm = await configMap();
    expect(route.status?.observedGeneration).toBe(route.metadata.generation);
    expect(route.status?.gateway).toEqual({
      service: 'orders-gateway',
      readyReplicas: 2,
      configHash: cm.metadata?.annotations?.[CONFIG_HASH_ANNOTATION],
    });
    expect(route.status?.routes).toEqual([{ name: 'api', newServicePercent: 10 }]);
    for (const type of ['Accepted', 'Ready', 'Progressing', 'Degraded']) {
      expect(condition(route.status, type)?.reason).toMatch(/^[A-Z][A-Za-z]+$/);
    }
    const events = await eventually('a GatewayCreated Event', async () => {
      const list = await c.core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=orders',
      });
      return list.items.some((e) => e.reason === 'GatewayCreated') ? list.items : undefined;
    });
    expect(events.find((e) => e.reason === 'GatewayCreated')?.involvedObject.uid).toBe(uid);
  }, 120_000);

  test('kubectl get apiroutes shows routes, monolith, new-service share and Ready through the printer columns', async () => {
    const table = (await c.custom.listNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: ns },
      setHeaderOptions('Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io'),
    )) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    const columns = table.columnDefinitions.map((d) => d.name);
    const row = table.rows[0]?.cells ?? [];
    const cell = (name: string) => row[columns.indexOf(name)];
    expect(cell('Name')).toBe('orders');
    expect(cell('Routes')).toBe(1);
    expect(cell('Monolith')).toBe('legacy:8080');
    expect(cell('New-Service-%')).toBe(10);
    expect(cell('Ready')).toBe('True');
  });

  test('reconciling an unchanged ApiRoute applies nothing, changes no object and writes no status', async () => {
    const objects = async () => {
      const [cm, svc, dep, route] = await Promise.all([
        configMap(),
        c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns }),
        c.apps.readNamespacedDeployment({ name: 'orders-gateway', namespace: ns }),
        getApiRoute(kc, ns, 'orders'),
      ]);
      return [cm, svc, dep, route].map((o) => o.metadata?.resourceVersion);
    };
    // Let the rollout's last status updates settle.
    await sleep(1500);
    const before = await reconcileCount();
    applies.length = 0;
    requests.length = 0;
    // A label is metadata, not spec: it triggers a reconcile without changing what is desired.
    await patchApiRoute(kc, ns, 'orders', { metadata: { labels: { touched: 'yes' } } });
    const afterPatch = await objects();
    await eventually('a reconcile after the label change', async () =>
      (await reconcileCount()) > before ? true : undefined,
    );
    await sleep(1000);
    expect(await objects()).toEqual(afterPatch);
    // The API server's copies (defaults, normalised values) still cover what is desired.
    expect(applies).toEqual([]);
    // Not a read, a status write or an Event either: the reconcile made no request at all.
    expect(requests).toEqual([]);
  }, 30_000);

  test('editing weights updates the ConfigMap and status without rolling the Deployment', async () => {
    const depBefore = await c.apps.readNamespacedDeployment({
      name: 'orders-gateway',
      namespace: ns,
    });
    const podsBefore = (await c.core.listNamespacedPod({ namespace: ns })).items
      .map((p) => p.metadata?.name)
      .sort();
    const hashBefore = (await configMap()).metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    await setWeight(kc, ns, 'orders', 60);
    const cm = await eventually('the ConfigMap to carry 60%', async () => {
      const current = await configMap();
      const table = parseRouteTable(current.data?.[ROUTE_TABLE_KEY] ?? '');
      return table.routes[0]?.newServicePercent === 60 ? current : undefined;
    });
    const hash = cm.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    expect(hash).not.toBe(hashBefore);
    // The first change after the create moved the create's fields into the operator's
    // Apply entry, so a later apply can remove any of them (kubernetes/kubernetes#99003).
    await eventually("the ConfigMap's operator fields under its Apply entry only", async () => {
      const entries = (await configMap()).metadata?.managedFields ?? [];
      const mine = entries.filter((m) => m.manager === FIELD_MANAGER).map((m) => m.operation);
      return JSON.stringify(mine) === '["Apply"]' ? true : undefined;
    });
    const route = await waitForCondition(kc, ns, 'orders', 'Ready', 'True');
    expect(route.status?.routes).toEqual([{ name: 'api', newServicePercent: 60 }]);
    expect(route.status?.gateway?.configHash).toBe(hash);
    const depAfter = await c.apps.readNamespacedDeployment({
      name: 'orders-gateway',
      namespace: ns,
    });
    expect(depAfter.metadata?.generation).toBe(depBefore.metadata?.generation);
    expect(depAfter.spec?.template).toEqual(depBefore.spec?.template);
    const podsAfter = (await c.core.listNamespacedPod({ namespace: ns })).items
      .map((p) => p.metadata?.name)
      .sort();
    expect(podsAfter).toEqual(podsBefore);
    await eventually('a ConfigUpdated Event', async () => {
      const list = await c.core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=orders',
      });
      return list.items.some((e) => e.reason === 'ConfigUpdated') ? true : undefined;
    });
  }, 60_000);

  test('an owned Service deleted by hand is recreated', async () => {
    const old = await c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns });
    await c.core.deleteNamespacedService({ name: 'orders-gateway', namespace: ns });
    const recreated = await eventually('the Service to be recreated', async () => {
      const svc = await c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns });
      return svc.metadata?.uid !== old.metadata?.uid ? svc : undefined;
    });
    expect(recreated.spec?.ports?.map((p) => p.name)).toEqual(['http', 'metrics']);
  }, 30_000);

  test('a hand edit of an owned field (kubectl scale) is reverted', async () => {
    await c.apps.patchNamespacedDeploymentScale(
      { name: 'orders-gateway', namespace: ns, body: { spec: { replicas: 5 } } },
      setHeaderOptions('Content-Type', 'application/merge-patch+json'),
    );
    await eventually('replicas back at 2', async () => {
      const dep = await c.apps.readNamespacedDeployment({ name: 'orders-gateway', namespace: ns });
      return dep.spec?.replicas === 2 ? true : undefined;
    });
  }, 30_000);

  test('invalid ApiRoute: Accepted=False names the field, the ConfigMap stays, other ApiRoutes are unaffected', async () => {
    await createApiRoute(kc, apiRouteManifest(ns, 'other', { replicas: 1 }));
    await waitForCondition(kc, ns, 'other', 'Ready', 'True', 60_000);
    const before: V1ConfigMap = await configMap();
    // Passes the CRD (a string), fails deeper validation (the regular expression does not compile).
    await patchApiRoute(kc, ns, 'orders', {
      spec: {
        routes: [
          {
            name: 'api',
            match: { path: { type: 'RegularExpression', value: '/api/(' } },
            backends: [
              { service: 'orders', port: 80, weight: 50 },
              { monolith: true, weight: 50 },
            ],
          },
        ],
      },
    });
    const route = await waitForCondition(kc, ns, 'orders', 'Accepted', 'False');
    expect(condition(route.status, 'Accepted')?.message).toMatch(
      /^spec\.routes\[0\]\.match\.path\.value: /,
    );
    expect(condition(route.status, 'Ready')?.message).toContain('last good route table');
    // What the gateway serves is untouched and still reported.
    const after = await configMap();
    expect(after.data).toEqual(before.data);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(route.status?.gateway?.configHash).toBe(
      before.metadata?.annotations?.[CONFIG_HASH_ANNOTATION],
    );
    await eventually('an InvalidSpec Event', async () => {
      const list = await c.core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=orders',
      });
      return list.items.some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning')
        ? true
        : undefined;
    });
    // Another ApiRoute still converges.
    await setWeight(kc, ns, 'other', 30);
    const other = await waitForCondition(kc, ns, 'other', 'Ready', 'True');
    expect(other.status?.routes).toEqual([{ name: 'api', newServicePercent: 30 }]);
    // Fixing the input brings it back.
    await setWeight(kc, ns, 'orders', 40);
    await patchApiRoute(kc, ns, 'orders', {
      spec: { routes: [{ ...apiRouteManifest(ns, 'orders', { weight: 40 }).spec.routes[0] }] },
    });
    const fixed = await waitForCondition(kc, ns, 'orders', 'Accepted', 'True');
    expect(fixed.status?.routes).toEqual([{ name: 'api', newServicePercent: 40 }]);
  }, 120_000);

  test('replicas 2 → 1 prunes the PodDisruptionBudget', async () => {
    await patchApiRoute(kc, ns, 'orders', { spec: { gateway: { replicas: 1 } } });
    await eventually('the PDB to be deleted', () =>
      notFound(() =>
        policy.readNamespacedPodDisruptionBudget({ name: 'orders-gateway', namespace: ns }),
      ),
    );
    await waitForCondition(kc, ns, 'orders', 'Ready', 'True', 60_000);
  }, 90_000);

  test('an object owned by someone else is never overwritten: Degraded=Conflict, then convergence once it is gone', async () => {
    await c.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'taken-gateway', labels: { owner: 'someone-else' } },
        spec: { ports: [{ name: 'web', port: 1234 }] },
      },
    });
    await createApiRoute(kc, apiRouteManifest(ns, 'taken', { replicas: 1 }));
    const route = await eventually('Degraded=True Conflict', async () => {
      const r = await getApiRoute(kc, ns, 'taken');
      return condition(r.status, 'Degraded')?.reason === 'Conflict' ? r : undefined;
    });
    expect(condition(route.status, 'Degraded')?.message).toContain(
      'Service ' + ns + '/taken-gateway already exists',
    );
    const svc = await c.core.readNamespacedService({ name: 'taken-gateway', namespace: ns });
    expect(svc.metadata?.ownerReferences).toBeUndefined();
    expect(svc.spec?.ports?.map((p) => p.port)).toEqual([1234]);
    // Nothing of the gateway was created while the conflict stood.
    expect(
      await notFound(() =>
        c.apps.readNamespacedDeployment({ name: 'taken-gateway', namespace: ns }),
      ),
    ).toBe(true);
    await c.core.deleteNamespacedService({ name: 'taken-gateway', namespace: ns });
    await waitForCondition(kc, ns, 'taken', 'Ready', 'True', 60_000);
  }, 120_000);

  test('deleting the ApiRoute garbage-collects every owned object', async () => {
    await c.custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      name: 'orders',
    });
    await eventually(
      'the owned objects to be garbage-collected',
      async () => {
        const gone = await Promise.all([
          notFound(configMap),
          notFound(() =>
            c.apps.readNamespacedDeployment({ name: 'orders-gateway', namespace: ns }),
          ),
          notFound(() => c.core.readNamespacedService({ name: 'orders-gateway', namespace: ns })),
          notFound(() =>
            c.core.readNamespacedServiceAccount({ name: 'orders-gateway', namespace: ns }),
          ),
          notFound(() => rbac.readNamespacedRole({ name: 'orders-gateway', namespace: ns })),
          notFound(() => rbac.readNamespacedRoleBinding({ name: 'orders-gateway', namespace: ns })),
        ]);
        return gone.every((g) => g === true) ? true : undefined;
      },
      60_000,
    );
    // The other gateways are untouched.
    await c.core.readNamespacedConfigMap({ name: 'other-gateway', namespace: ns });
  }, 90_000);

  test('operator metrics count reconciles and ApiRoutes by condition', async () => {
    const text = await running().metrics.registry.metrics();
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="apiroute",result="success"\} [1-9]/,
    );
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="apiroute",result="terminal"\} [1-9]/,
    );
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="apiroute",result="conflict"\} [1-9]/,
    );
    expect(text).toMatch(/figway_operator_apiroutes\{condition="Ready",status="True"\} 2/);
    expect(text).toMatch(/figway_operator_leader 1/);
    expect(text).toMatch(
      /controller_runtime_reconcile_time_seconds_count\{controller="apiroute"\} [1-9]/,
    );
    expect(text).toMatch(/workqueue_queue_duration_seconds_count\{name="apiroute"\} [1-9]/);
  });
});
