// The desired state of one ApiRoute: every object its gateway needs, in apply order.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ApiRoute, FieldError, GrpcDescriptor } from '../../api/index.js';
import type { OperatorSettings } from '../settings.js';
import {
  buildConfigMap,
  buildDeployment,
  buildHorizontalPodAutoscaler,
  buildPodDisruptionBudget,
  buildRole,
  buildRoleBinding,
  buildService,
  buildServiceAccount,
  compileConfig,
  type CompiledConfig,
} from './builders.js';
import { MAX_APIROUTE_NAME_LENGTH, NAME_SUFFIX } from './names.js';

export * from './builders.js';
export * from './names.js';
export * from './unchanged.js';

/** A kind the operator owns: how to address it, in the order objects are applied. */
export interface OwnedKind {
  apiVersion: string;
  kind: string;
  /** API path of the collection in a namespace, for list and watch. */
  path(namespace: string): string;
  /** API path across namespaces. */
  clusterPath: string;
}

function kindAt(group: string, version: string, kind: string, plural: string): OwnedKind {
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  return {
    apiVersion: group === '' ? version : `${group}/${version}`,
    kind,
    path: (namespace) => `${base}/namespaces/${namespace}/${plural}`,
    clusterPath: `${base}/${plural}`,
  };
}

/**
 * Every kind the operator creates, in apply order: identity and permissions before the
 * config, the config before the pods that read it, the pods before their budget and
 * their autoscaler.
 */
export const OWNED_KINDS: readonly OwnedKind[] = [
  kindAt('', 'v1', 'ServiceAccount', 'serviceaccounts'),
  kindAt('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  kindAt('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  kindAt('', 'v1', 'ConfigMap', 'configmaps'),
  kindAt('', 'v1', 'Service', 'services'),
  kindAt('apps', 'v1', 'Deployment', 'deployments'),
  kindAt('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  kindAt('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'),
];

export interface DesiredState {
  config: CompiledConfig;
  /** In OWNED_KINDS order; kinds not wanted (the PDB at one replica, the HPA) are absent. */
  objects: KubernetesObject[];
}

/**
 * Everything the operator wants to exist for a valid ApiRoute. Pure and deterministic.
 * `migrationWeights`: see compileConfig.
 */
export function desiredState(
  apiRoute: ApiRoute,
  settings: OperatorSettings,
  migrationWeights?: ReadonlyMap<string, number>,
  grpcDescriptors?: ReadonlyMap<string, GrpcDescriptor>,
): DesiredState {
  const config = compileConfig(apiRoute, settings, migrationWeights, grpcDescriptors);
  const pdb = buildPodDisruptionBudget(apiRoute);
  const hpa = buildHorizontalPodAutoscaler(apiRoute);
  const objects: KubernetesObject[] = [
    buildServiceAccount(apiRoute, settings),
    buildRole(apiRoute, config),
    buildRoleBinding(apiRoute),
    buildConfigMap(apiRoute, config),
    buildService(apiRoute, settings),
    buildDeployment(apiRoute, settings),
    ...(pdb ? [pdb] : []),
    ...(hpa ? [hpa] : []),
  ];
  return { config, objects };
}

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Checks the CRD cannot express for the operator's own reasons: the name must leave room
 * for the `-gateway` suffix and start with a letter, because it names a Service.
 */
export function operatorFieldErrors(apiRoute: Pick<ApiRoute, 'metadata'>): FieldError[] {
  const name = apiRoute.metadata.name;
  const errors: FieldError[] = [];
  if (name.length > MAX_APIROUTE_NAME_LENGTH) {
    errors.push({
      path: 'metadata.name',
      message: `must be at most ${MAX_APIROUTE_NAME_LENGTH} characters so that "<name>${NAME_SUFFIX}" is a valid Service name, got ${name.length}`,
    });
  } else if (!DNS_1035_LABEL.test(name)) {
    errors.push({
      path: 'metadata.name',
      message: `must start with a lowercase letter and contain only lowercase letters, digits and '-' (it names the gateway Service), got ${JSON.stringify(name)}`,
    });
  }
  return errors;
}
