// Pure desired-state builders: one function per object an ApiRoute's gateway needs. They
// return plain Kubernetes objects and touch nothing; applying them is reconciler.ts's job.
// Deterministic by construction: no clocks, no randomness, keys in a fixed order, so
// reconciling twice sends identical objects and the API server sees no change.
//
// client-node declares its models as classes, but they have no behaviour and the API takes
// plain JSON, so plain object literals typed as those models are exactly right here.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import type {
  V1ConfigMap,
  V1Deployment,
  V1EnvVar,
  V1PodDisruptionBudget,
  V1ResourceRequirements,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import {
  secretNames,
  canonicalQuantity,
  compileRouteTable,
  DEFAULT_NAMESPACE,
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

export function buildServiceAccount(apiRoute: ApiRoute): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(apiRoute) };
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
  const podAnnotations = gateway.podAnnotations;
  const containerResources = resources(apiRoute);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(apiRoute),
    spec: {
      replicas: gateway.replicas,
      revisionHistoryLimit: 3,
      // Deployment's selector is immutable: selectorLabels never changes for an ApiRoute.
      selector: { matchLabels: selectorLabels(apiRoute) },
      // Surge before removing a pod, so a rollout never lowers serving capacity.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: commonLabels(apiRoute),
          ...(podAnnotations &&
            Object.keys(podAnnotations).length > 0 && {
              annotations: sortedRecord(podAnnotations),
            }),
        },
        spec: {
          serviceAccountName: name,
          // The gateway watches its ConfigMap through the API, so it needs its token.
          automountServiceAccountToken: true,
          terminationGracePeriodSeconds: settings.drainSeconds + settings.shutdownMarginSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: GATEWAY_UID,
            runAsGroup: GATEWAY_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              // ScheduleAnyway: a one-node cluster must still run every replica.
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(apiRoute) },
            },
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(apiRoute) },
            },
          ],
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
              env: [
                { name: 'NODE_OPTIONS', value: gatewayNodeOptions(containerResources) },
                ...redisPasswordEnv(settings.redis),
              ],
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
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(apiRoute),
    spec: {
      type: 'ClusterIP',
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
 * built when replicas > 1: with one replica a PDB would block node drains forever.
 */
export function buildPodDisruptionBudget(apiRoute: ApiRoute): V1PodDisruptionBudget | undefined {
  if (apiRoute.spec.gateway.replicas <= 1) return undefined;
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
