// Shared setup for the operator's tests on the real control plane (test/cluster): the CRD,
// a namespace per test file, operators running in-process, and bounded polling.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { apiRequest, attachCluster } from '../../cluster/harness.js';
import {
  GROUP,
  PLURAL,
  VERSION,
  type ApiRouteStatus,
  type Condition,
} from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import { Operator, type OperatorOptions } from '../../../src/operator/controller.js';
import { OperatorMetrics } from '../../../src/operator/metrics.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import { eventually } from '../../tools/processes.js';

export { eventually };

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function kubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export function clients(kc: KubeConfig) {
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

/**
 * Installs the generated CRD (idempotent) and waits until it is served. Sent as raw JSON:
 * client-node's typed serializer would drop x-kubernetes-* keys (it looks them up under
 * x_kubernetes_* names), leaving int-or-string fields without a type.
 */
export async function installCrd(kc: KubeConfig, stateFile: string): Promise<void> {
  const cluster = await attachCluster(stateFile);
  const file = join(ROOT, 'crds', 'figway.dev_apiroutes.yaml');
  const crd = parse(readFileSync(file, 'utf8')) as { metadata: { name: string } };
  const res = await apiRequest(
    cluster,
    'PATCH',
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=figway-integration-test&force=true`,
    crd,
    { contentType: 'application/apply-patch+yaml' },
  );
  if (res.status >= 300)
    throw new Error(`installing the CRD failed: HTTP ${res.status}: ${res.body}`);
  const { custom } = clients(kc);
  await eventually('the ApiRoute CRD to be served', async () => {
    await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
    return true;
  });
}

export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await clients(kc).core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  try {
    await clients(kc).core.deleteNamespace({ name });
  } catch {
    // Best effort: the cluster is thrown away after the run.
  }
}

export function apiRouteManifest(
  namespace: string,
  name: string,
  options: {
    weight?: number;
    replicas?: number;
    regex?: string;
    newService?: string;
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    /** spec.gateway as given, instead of the one built from replicas and resources. */
    gateway?: Record<string, unknown>;
  } = {},
) {
  const weight = options.weight ?? 10;
  const path =
    options.regex !== undefined
      ? { type: 'RegularExpression', value: options.regex }
      : { type: 'PathPrefix', value: '/api' };
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ApiRoute',
    metadata: { name, namespace },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      gateway: options.gateway ?? {
        replicas: options.replicas ?? 2,
        ...(options.resources !== undefined && { resources: options.resources }),
      },
      routes: [
        {
          name: 'api',
          match: { path },
          backends: [
            { service: options.newService ?? 'orders', port: 80, weight },
            { monolith: true, weight: 100 - weight },
          ],
        },
      ],
    },
  };
}

export interface ApiRouteObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
  };
  spec: ReturnType<typeof apiRouteManifest>['spec'];
  status?: ApiRouteStatus;
}

export async function getApiRoute(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<ApiRouteObject> {
  return (await clients(kc).custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    name,
  })) as ApiRouteObject;
}

export async function createApiRoute(
  kc: KubeConfig,
  manifest: ReturnType<typeof apiRouteManifest>,
): Promise<void> {
  await clients(kc).custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: manifest.metadata.namespace,
    body: manifest,
  });
}

/** Merge-patches an ApiRoute's spec, as `kubectl patch --type merge` does. */
export async function patchApiRoute(
  kc: KubeConfig,
  namespace: string,
  name: string,
  patch: object,
): Promise<void> {
  await clients(kc).custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: patch },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Sets the weight of the first backend of route `api` (and the monolith's to the rest). */
export async function setWeight(
  kc: KubeConfig,
  namespace: string,
  name: string,
  weight: number,
): Promise<void> {
  const current = await getApiRoute(kc, namespace, name);
  const routes = structuredClone(current.spec.routes);
  const route = routes[0];
  if (!route) throw new Error('no route');
  route.backends = [
    { ...route.backends[0], weight } as (typeof route.backends)[number],
    { monolith: true, weight: 100 - weight },
  ];
  await patchApiRoute(kc, namespace, name, { spec: { routes } });
}

/** For `eventually`: true once `read` answers 404, undefined while the object exists. */
export async function notFound(read: () => Promise<unknown>): Promise<true | undefined> {
  try {
    await read();
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code === 404 ? true : undefined;
  }
}

export function condition(status: ApiRouteStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** Waits for a condition with this status whose observedGeneration is the current generation. */
export async function waitForCondition(
  kc: KubeConfig,
  namespace: string,
  name: string,
  type: string,
  status: 'True' | 'False',
  timeoutMs = 60_000,
): Promise<ApiRouteObject> {
  return eventually(
    `ApiRoute ${namespace}/${name} ${type}=${status} at its current generation`,
    async () => {
      const route = await getApiRoute(kc, namespace, name);
      const c = condition(route.status, type);
      const current =
        route.status?.observedGeneration === route.metadata.generation &&
        c?.observedGeneration === route.metadata.generation;
      return current && c.status === status ? route : undefined;
    },
    timeoutMs,
  );
}

export interface RunningOperator {
  operator: Operator;
  metrics: OperatorMetrics;
  stop(): Promise<void>;
}

/** Starts an operator in this process, quiet unless FIGWAY_TEST_LOGS=1. */
export async function startOperator(
  kc: KubeConfig,
  options: Partial<Omit<OperatorOptions, 'kubeConfig' | 'metrics' | 'logger'>> & {
    leaseName?: string;
    leaseNamespace?: string;
  } = {},
): Promise<RunningOperator> {
  const metrics = new OperatorMetrics({ processMetrics: false });
  const { leaseName, leaseNamespace, ...rest } = options;
  const operator = new Operator({
    kubeConfig: kc,
    concurrency: 2,
    settings: DEFAULT_SETTINGS,
    resyncMs: 60_000,
    retryBaseMs: 200,
    retryMaxMs: 2_000,
    leaderElection: {
      enabled: leaseName !== undefined,
      namespace: leaseNamespace ?? 'default',
      name: leaseName ?? 'unused',
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 500,
    },
    logger: createLogger({
      component: 'operator',
      level: 'debug',
      silent: process.env.FIGWAY_TEST_LOGS !== '1',
    }),
    metrics,
    ...rest,
  });
  await operator.start();
  return {
    operator,
    metrics,
    stop: () => operator.stop(),
  };
}
