// Pure desired-state builders: one function per object an ApiRoute's gateway needs. They
// return plain Kubernetes objects and touch nothing; applying them is reconciler.ts's job.
// Deterministic by construction: no clocks, no randomness, keys in a fixed order, so
// reconciling twice sends identical objects and the API server sees no change.
//
// client-node declares its models as classes, but they have no behaviour and the API takes
// plain JSON, so plain object literals typed as those models are exactly right here.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1EnvVar,
  V2HorizontalPodAutoscaler,
  V1PodDisruptionBudget,
  V1ResourceRequirements,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
  V1TopologySpreadConstraint,
} from '@kubernetes/client-node';
import {
  secretNames,
  canonicalQuantity,
  compileRouteTable,
  DEFAULT_GATEWAY_REPLICAS,
  DEFAULT_NAMESPACE,
  GATEWAY_POD_FIELDS,
  type GatewayPodDefaults,
  quantityValue,
  ROUTE_TABLE_KEY,
  serializeRouteTable,
  type ApiRoute,
  type GrpcDescriptor,
  type RouteTable,
} from '../../api/index.js';
import { REDIS_PASSWORD_ENV } from '../../common/redis-url.js';
import { DEFAULT_SETTINGS, type OperatorSettings } from '../settings.js';
import {
  commonLabels,
  CONFIG_HASH_ANNOTATION,
  FIELD_MANAGER,
  gatewayName,
  ownerReferences,
  selectorLabels,
} from './names.js';

/** Everything the builders derive from the route table, computed once per reconcile. */
export interface CompiledConfig {
  table: RouteTable;
  hash: string;
  /** The exact ConfigMap payload. */
  json: string;
}

/**
 * The route table of an ApiRoute. `migrationWeights`: the effective new-service weight of
 * each migrating route, from its migration state (absent: 0, nothing has moved yet).
 */
export function compileConfig(
  apiRoute: ApiRoute,
  settings: Pick<OperatorSettings, 'defaultAccessLog' | 'defaultTracing'> = DEFAULT_SETTINGS,
  migrationWeights?: ReadonlyMap<string, number>,
  grpcDescriptors?: ReadonlyMap<string, GrpcDescriptor>,
): CompiledConfig {
  const table = compileRouteTable(apiRoute, {
    ...(settings.defaultAccessLog !== undefined && { defaultAccessLog: settings.defaultAccessLog }),
    ...(settings.defaultTracing !== undefined && { defaultTracing: settings.defaultTracing }),
    ...(migrationWeights !== undefined && { migrationWeights }),
    ...(grpcDescriptors !== undefined && { grpcDescriptors }),
  });
  return { table, hash: table.hash, json: serializeRouteTable(table) };
}

function namespaceOf(apiRoute: ApiRoute): string {
  // The operator always has a namespace; `figway render` of a file without one uses default.
  return apiRoute.metadata.namespace ?? DEFAULT_NAMESPACE;
}

function metadata(apiRoute: ApiRoute, extra: { annotations?: Record<string, string> } = {}) {
  const owners = ownerReferences(apiRoute);
  return {
    name: gatewayName(apiRoute),
    namespace: namespaceOf(apiRoute),
    labels: commonLabels(apiRoute),
    ...(extra.annotations && { annotations: extra.annotations }),
    ...(owners && { ownerReferences: owners }),
  };
}

/** The route table the gateway serves, with its hash as an annotation for status and humans. */
export function buildConfigMap(apiRoute: ApiRoute, config: CompiledConfig): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(apiRoute, { annotations: { [CONFIG_HASH_ANNOTATION]: config.hash } }),
    data: { [ROUTE_TABLE_KEY]: config.json },
  };
}

/**
 * The placement, exposure and env fields of a gateway: each one the ApiRoute sets replaces
 * the chart's default of that field whole (see gateway-pod-schema.ts).
 */
export function gatewayPod(
  apiRoute: ApiRoute,
  settings: Pick<OperatorSettings, 'gatewayPod'>,
): GatewayPodDefaults {
  const own = apiRoute.spec.gateway;
  return Object.fromEntries(
    Object.keys(GATEWAY_POD_FIELDS).flatMap((field) => {
      const value =
        own[field as keyof GatewayPodDefaults] ??
        settings.gatewayPod[field as keyof GatewayPodDefaults];
      return value === undefined ? [] : [[field, value]];
    }),
  );
}

/** Annotations, sorted for determinism; absent when empty. */
function annotations(record: Record<string, string> | undefined) {
  return record && Object.keys(record).length > 0 ? { annotations: sortedRecord(record) } : {};
}

export function buildServiceAccount(
  apiRoute: ApiRoute,
  settings: OperatorSettings = DEFAULT_SETTINGS,
): V1ServiceAccount {
  const own = annotations(gatewayPod(apiRoute, settings).serviceAccount?.annotations);
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(apiRoute, own) };
}

/**
 * Lets the gateway read its own ConfigMap and the Secrets its route table takes API keys
 * and JWKS from, and nothing else. list and watch are authorised by resourceNames because the gateway
 * always sends fieldSelector=metadata.name=<name>, one watch per object.
 */
export function buildRole(apiRoute: ApiRoute, config: Pick<CompiledConfig, 'table'>): V1Role {
  const secrets = secretNames(config.table);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(apiRoute),
    rules: [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [gatewayName(apiRoute)],
        verbs: ['get', 'list', 'watch'],
      },
      ...(secrets.length > 0
        ? [
            {
              apiGroups: [''],
              resources: ['secrets'],
              resourceNames: secrets,
              verbs: ['get', 'list', 'watch'],
            },
          ]
        : []),
    ],
  };
}

export function buildRoleBinding(apiRoute: ApiRoute): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(apiRoute),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: gatewayName(apiRoute) },
    subjects: [
      { kind: 'ServiceAccount', name: gatewayName(apiRoute), namespace: namespaceOf(apiRoute) },
    ],
  };
}

/** Used when spec.gateway.resources is absent: small requests, a memory limit against leaks. */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { memory: '256Mi' },
} as const;

function resources(apiRoute: ApiRoute): V1ResourceRequirements {
  const spec = apiRoute.spec.gateway.resources;
  if (spec === undefined) {
    return {
      requests: { ...DEFAULT_RESOURCES.requests },
      limits: { ...DEFAULT_RESOURCES.limits },
    };
  }
  // Fixed key order (cpu, memory), whatever order the user wrote them in, and the
  // canonical form the API server stores (0.5 → 500m), so an unchanged ApiRoute's
  // Deployment is recognised as unchanged.
  const canonical = (q: string) => canonicalQuantity(q) ?? q;
  const list = (r: { cpu?: string; memory?: string } | undefined) =>
    r && {
      ...(r.cpu !== undefined && { cpu: canonical(r.cpu) }),
      ...(r.memory !== undefined && { memory: canonical(r.memory) }),
    };
  const requests = list(spec.requests);
  const limits = list(spec.limits);
  return { ...(requests && { requests }), ...(limits && { limits }) };
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * V8 flags for the gateway container. Node sizes its heap from the cgroup memory limit, but
 * never below 259 MiB, more than the default 256Mi limit: garbage could outgrow the limit
 * and get the pod OOM-killed. So the old generation is capped at half the memory limit.
 * An 8 MiB young generation: under full load (bench:gateway) RSS 134 MiB against 218 with
 * V8's default, for 2% more CPU per request (4 MiB: 129 MiB, but 11% more CPU).
 */
export function gatewayNodeOptions(resources: V1ResourceRequirements): string {
  const limit = resources.limits?.memory;
  const bytes = limit === undefined ? undefined : quantityValue(limit);
  const flags = ['--max-semi-space-size=8'];
  if (bytes !== undefined) {
    flags.push(`--max-old-space-size=${String(Math.max(64, Math.floor(bytes / 2 ** 21)))}`);
  }
  return flags.join(' ');
}

/** The replica count the operator owns; undefined with autoscaling, where the HPA owns it. */
export function fixedReplicas(apiRoute: ApiRoute): number | undefined {
  const gateway = apiRoute.spec.gateway;
  return gateway.autoscaling ? undefined : (gateway.replicas ?? DEFAULT_GATEWAY_REPLICAS);
}

/** The fewest pods the gateway runs with: the PDB is built from it. */
function leastReplicas(apiRoute: ApiRoute): number {
  return apiRoute.spec.gateway.autoscaling?.minReplicas ?? fixedReplicas(apiRoute) ?? 0;
}

/**
 * Spread over hostnames and zones by default. ScheduleAnyway: a one-node cluster must still
 * run every replica. A constraint the user gives without a labelSelector counts this
 * gateway's pods, the only selector that makes sense for it.
 */
function topologySpread(
  apiRoute: ApiRoute,
  given: GatewayPodDefaults['topologySpreadConstraints'],
): V1TopologySpreadConstraint[] {
  const labelSelector = { matchLabels: selectorLabels(apiRoute) };
  if (given === undefined) {
    return ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
      maxSkew: 1,
      topologyKey,
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector,
    }));
  }
  return given.map((constraint) => ({ labelSelector, ...constraint }));
}

/** prometheus.io annotations for Prometheus setups that discover pods by annotation. */
function scrapeAnnotations(settings: OperatorSettings): Record<string, string> {
  if (!settings.scrapeAnnotations) return {};
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(settings.adminPort),
    'prometheus.io/path': '/metrics',
  };
}

/** The uid/gid of the distroless "nonroot" user the figway image runs as. */
export const GATEWAY_UID = 65532;

/**
 * The gateway Deployment. The pod template deliberately carries no config hash: route
 * changes reach the gateway through its ConfigMap watch, so a config change must never
 * roll the pods. Only an image, resource or shape change does.
 */
export function buildDeployment(apiRoute: ApiRoute, settings: OperatorSettings): V1Deployment {
  const name = gatewayName(apiRoute);
  const namespace = namespaceOf(apiRoute);
  const gateway = apiRoute.spec.gateway;
  const pod = gatewayPod(apiRoute, settings);
  // The user's annotations win over the scrape annotations they may want to change.
  const podAnnotations = { ...scrapeAnnotations(settings), ...gateway.podAnnotations };
  const containerResources = resources(apiRoute);
  const replicas = fixedReplicas(apiRoute);
  const env: V1EnvVar[] = [
    { name: 'NODE_OPTIONS', value: gatewayNodeOptions(containerResources) },
    ...redisPasswordEnv(settings.redis),
    ...(pod.env ?? []),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(apiRoute),
    spec: {
      // Absent with autoscaling: server-side apply then leaves the field to the HPA.
      ...(replicas !== undefined && { replicas }),
      revisionHistoryLimit: 3,
      // Deployment's selector is immutable: selectorLabels never changes for an ApiRoute.
      selector: { matchLabels: selectorLabels(apiRoute) },
      // Surge before removing a pod, so a rollout never lowers serving capacity.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          // The operator's labels last: the schema refuses podLabels that would replace them.
          labels: { ...sortedRecord(pod.podLabels ?? {}), ...commonLabels(apiRoute) },
          ...annotations(podAnnotations),
        },
        spec: {
          serviceAccountName: name,
          ...(pod.priorityClassName !== undefined && { priorityClassName: pod.priorityClassName }),
          ...(pod.imagePullSecrets && { imagePullSecrets: pod.imagePullSecrets }),
          ...(pod.nodeSelector && { nodeSelector: sortedRecord(pod.nodeSelector) }),
          ...(pod.tolerations && { tolerations: pod.tolerations }),
          ...(pod.affinity && { affinity: pod.affinity }),
          // The gateway watches its ConfigMap through the API, so it needs its token.
          automountServiceAccountToken: true,
          terminationGracePeriodSeconds: settings.drainSeconds + settings.shutdownMarginSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: GATEWAY_UID,
            runAsGroup: GATEWAY_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: topologySpread(apiRoute, pod.topologySpreadConstraints),
          containers: [
            {
              name: 'gateway',
              image: gateway.image ?? settings.image,
              imagePullPolicy: settings.imagePullPolicy,
              args: [
                'gateway',
                '--configmap',
                name,
                '--namespace',
                namespace,
                '--port',
                String(settings.gatewayPort),
                '--admin-port',
                String(settings.adminPort),
                '--drain-seconds',
                String(settings.drainSeconds),
                ...(settings.redis !== undefined ? ['--redis-url', settings.redis.url] : []),
              ],
              env,
              ports: [
                { name: 'http', containerPort: settings.gatewayPort, protocol: 'TCP' },
                { name: 'admin', containerPort: settings.adminPort, protocol: 'TCP' },
              ],
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'admin' },
                periodSeconds: 5,
                failureThreshold: 2,
              },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'admin' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              resources: containerResources,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              // Node and its libraries may write temporary files; the root filesystem is read-only.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
    },
  };
}

/** The Redis password from the Secret the chart names, in the gateway's own namespace. */
function redisPasswordEnv(redis: OperatorSettings['redis']): V1EnvVar[] {
  const secret = redis?.passwordSecret;
  if (secret === undefined) return [];
  return [
    {
      name: REDIS_PASSWORD_ENV,
      valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } },
    },
  ];
}

export function buildService(apiRoute: ApiRoute, settings: OperatorSettings): V1Service {
  const service = gatewayPod(apiRoute, settings).service;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(apiRoute, annotations(service?.annotations)),
    spec: {
      type: service?.type ?? 'ClusterIP',
      ...(service?.loadBalancerClass !== undefined && {
        loadBalancerClass: service.loadBalancerClass,
      }),
      ...(service?.externalTrafficPolicy !== undefined && {
        externalTrafficPolicy: service.externalTrafficPolicy,
      }),
      selector: selectorLabels(apiRoute),
      ports: [
        { name: 'http', port: settings.servicePort, targetPort: 'http', protocol: 'TCP' },
        { name: 'metrics', port: settings.adminPort, targetPort: 'admin', protocol: 'TCP' },
      ],
    },
  };
}

/**
 * Keeps all but one gateway pod up during voluntary disruptions (drains, upgrades). Only
 * built when replicas (or the autoscaler's minReplicas) > 1: with one replica a PDB would
 * block node drains forever.
 */
export function buildPodDisruptionBudget(apiRoute: ApiRoute): V1PodDisruptionBudget | undefined {
  if (leastReplicas(apiRoute) <= 1) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(apiRoute),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(apiRoute) },
      // A crash-looping pod must not block a node drain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/** A CPU HorizontalPodAutoscaler for the gateway Deployment, when spec.gateway.autoscaling asks. */
export function buildHorizontalPodAutoscaler(
  apiRoute: ApiRoute,
): V2HorizontalPodAutoscaler | undefined {
  const autoscaling = apiRoute.spec.gateway.autoscaling;
  if (autoscaling === undefined) return undefined;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(apiRoute),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: gatewayName(apiRoute) },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: {
              type: 'Utilization',
              averageUtilization: autoscaling.targetCPUUtilizationPercentage,
            },
          },
        },
      ],
    },
  };
}

/** Whether a field manager owns spec.replicas of a live Deployment (from its managedFields). */
export function ownsReplicas(deployment: V1Deployment, manager: string): boolean {
  return (deployment.metadata?.managedFields ?? []).some((entry) => {
    const fields = entry.fieldsV1 as { 'f:spec'?: { 'f:replicas'?: unknown } } | undefined;
    return entry.manager === manager && fields?.['f:spec']?.['f:replicas'] !== undefined;
  });
}

/**
 * Server-side apply deletes a field its only owner stops applying: dropping spec.replicas
 * when autoscaling is turned on would reset the Deployment to 1 pod until the HPA reacts.
 * So while the operator still owns the field, a second manager first applies the current
 * count (the Kubernetes docs' "transferring ownership" to an HPA); this is that apply, or
 * undefined when the operator does not own spec.replicas of the live Deployment.
 */
export function replicasHandover(live: KubernetesObject | undefined): V1Deployment | undefined {
  const deployment: V1Deployment | undefined = live;
  const replicas = deployment?.spec?.replicas;
  if (deployment?.metadata === undefined || replicas === undefined) return undefined;
  if (!ownsReplicas(deployment, FIELD_MANAGER)) return undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: deployment.metadata.name, namespace: deployment.metadata.namespace },
    spec: { replicas } as V1Deployment['spec'],
  };
}
