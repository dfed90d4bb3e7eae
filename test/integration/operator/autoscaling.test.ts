// Gateways a platform places, exposes and scales, on the real control plane: the CRD
// admits the placement fields (keeping the pass-through shapes) and refuses bad
// combinations, and with spec.gateway.autoscaling the HPA owns the replica count: turning
// it on keeps the current count, a reconcile never resets what the HPA set, and turning it
// off prunes the HPA. One operator watches this file's own namespace.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  AutoscalingV2Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  FIELD_MANAGER,
  ownsReplicas,
  REPLICAS_HANDOVER_MANAGER,
} from '../../../src/operator/desired-state/index.js';
import { testClusterEnv } from '../../cluster/env.js';
import {
  apiRouteManifest,
  clients,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  eventually,
  installCrd,
  kubeConfig,
  notFound,
  patchApiRoute,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;
/** The field manager of a stand-in for the HPA controller: it scales through /scale. */
const HPA_STAND_IN = 'horizontal-pod-autoscaler-test';

describeCluster('gateway placement and autoscaling on a real control plane', () => {
  let kc: KubeConfig;
  let ns: string;
  let op: RunningOperator | undefined;
  let c: ReturnType<typeof clients>;
  let autoscaling: AutoscalingV2Api;
  let policy: PolicyV1Api;

  const deployment = () => c.apps.readNamespacedDeployment({ name: 'edge-gateway', namespace: ns });
  const owns = async (manager: string) => ownsReplicas(await deployment(), manager);

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    c = clients(kc);
    autoscaling = kc.makeApiClient(AutoscalingV2Api);
    policy = kc.makeApiClient(PolicyV1Api);
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'scale');
    op = await startOperator(kc, { namespaces: [ns] });
  }, 60_000);

  afterAll(async () => {
    await op?.stop();
    await deleteNamespace(kc, ns);
  });

  test('the API server refuses replicas with autoscaling, minReplicas above maxReplicas, and a bad Service or toleration, naming the field', async () => {
    const attempt = async (gateway: Record<string, unknown>) => {
      try {
        await createApiRoute(kc, apiRouteManifest(ns, 'refused', { gateway }));
        return 'created';
      } catch (error) {
        return String((error as { body?: unknown }).body ?? error);
      }
    };
    expect(await attempt({ replicas: 2, autoscaling: { maxReplicas: 4 } })).toMatch(
      /spec\.gateway\.replicas.*set replicas or autoscaling, not both/,
    );
    expect(await attempt({ autoscaling: { minReplicas: 5, maxReplicas: 4 } })).toMatch(
      /spec\.gateway\.autoscaling\.minReplicas.*must not exceed maxReplicas/,
    );
    expect(await attempt({ service: { loadBalancerClass: 'example.com/lb' } })).toMatch(
      /spec\.gateway\.service\.loadBalancerClass.*needs type LoadBalancer/,
    );
    expect(
      await attempt({ service: { type: 'ClusterIP', externalTrafficPolicy: 'Local' } }),
    ).toMatch(/spec\.gateway\.service\.externalTrafficPolicy.*needs type LoadBalancer or NodePort/);
    expect(await attempt({ tolerations: [{ key: 'a', operator: 'Maybe' }] })).toMatch(
      /spec\.gateway\.tolerations\[0\]\.operator: Unsupported value: \W{0,4}Maybe/,
    );
  }, 30_000);

  test('placement fields reach the pod template, pass-through shapes intact', async () => {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
          ],
        },
      },
    };
    await createApiRoute(
      kc,
      apiRouteManifest(ns, 'edge', {
        gateway: {
          replicas: 3,
          affinity,
          tolerations: [
            { key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' },
          ],
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              nodeTaintsPolicy: 'Honor',
            },
          ],
          podLabels: { team: 'edge' },
          service: { type: 'NodePort', externalTrafficPolicy: 'Local' },
        },
      }),
    );
    await waitForCondition(kc, ns, 'edge', 'Ready', 'True', 60_000);
    const pod = (await deployment()).spec?.template;
    expect(pod?.spec?.affinity).toEqual(affinity);
    expect(pod?.spec?.topologySpreadConstraints?.[0]).toMatchObject({
      nodeTaintsPolicy: 'Honor',
      labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'edge' } },
    });
    expect(pod?.metadata?.labels?.team).toBe('edge');
    const service = await c.core.readNamespacedService({ name: 'edge-gateway', namespace: ns });
    expect(service.spec).toMatchObject({ type: 'NodePort', externalTrafficPolicy: 'Local' });
  }, 90_000);

  test('turning autoscaling on: an HPA, the replica count kept (not reset to 1), the operator no longer owns it', async () => {
    expect((await deployment()).spec?.replicas).toBe(3);
    expect(await owns(FIELD_MANAGER)).toBe(true);
    await patchApiRoute(kc, ns, 'edge', {
      spec: { gateway: { replicas: null, autoscaling: { minReplicas: 2, maxReplicas: 6 } } },
    });
    const hpa = await eventually('the HPA', async () => {
      try {
        return await autoscaling.readNamespacedHorizontalPodAutoscaler({
          name: 'edge-gateway',
          namespace: ns,
        });
      } catch {
        return undefined;
      }
    });
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'edge-gateway' },
      minReplicas: 2,
      maxReplicas: 6,
    });
    await waitForCondition(kc, ns, 'edge', 'Ready', 'True', 60_000);
    expect(await owns(FIELD_MANAGER)).toBe(false);
    expect(await owns(REPLICAS_HANDOVER_MANAGER)).toBe(true);
    expect((await deployment()).spec?.replicas).toBe(3);
    // The PDB follows minReplicas (2 > 1).
    await policy.readNamespacedPodDisruptionBudget({ name: 'edge-gateway', namespace: ns });
  }, 90_000);

  test('a reconcile that re-applies the Deployment leaves the replica count the HPA set', async () => {
    await c.apps.patchNamespacedDeploymentScale(
      {
        name: 'edge-gateway',
        namespace: ns,
        body: { spec: { replicas: 5 } },
        fieldManager: HPA_STAND_IN,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect((await deployment()).spec?.replicas).toBe(5);
    // A pod template change makes the operator apply the Deployment again.
    await patchApiRoute(kc, ns, 'edge', { spec: { gateway: { podAnnotations: { rev: '2' } } } });
    await eventually('the Deployment re-applied with the new pod annotation', async () => {
      const live = await deployment();
      return live.spec?.template.metadata?.annotations?.rev === '2' ? true : undefined;
    });
    await waitForCondition(kc, ns, 'edge', 'Ready', 'True', 60_000);
    expect((await deployment()).spec?.replicas).toBe(5);
    expect(await owns(HPA_STAND_IN)).toBe(true);
    expect(await owns(FIELD_MANAGER)).toBe(false);
  }, 90_000);

  test('turning autoscaling off prunes the HPA and the operator owns replicas again', async () => {
    await patchApiRoute(kc, ns, 'edge', { spec: { gateway: { autoscaling: null, replicas: 2 } } });
    await eventually('the HPA to be pruned', () =>
      notFound(() =>
        autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'edge-gateway', namespace: ns }),
      ),
    );
    await eventually('replicas 2', async () =>
      (await deployment()).spec?.replicas === 2 ? true : undefined,
    );
    expect(await owns(FIELD_MANAGER)).toBe(true);
  }, 90_000);
});
