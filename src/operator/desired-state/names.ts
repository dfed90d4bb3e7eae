// Names and labels of the objects the operator creates for an ApiRoute. Everything here is
// derived from the ApiRoute name alone, so it never changes for the life of the ApiRoute.
import { API_VERSION, KIND, type ApiRoute } from '../../api/index.js';

/** Label on every owned object: the name of the ApiRoute it belongs to (watch and prune key). */
export const APIROUTE_LABEL = 'figway.dev/apiroute';
/** Annotation on the ConfigMap: the content hash of the route table it holds. */
export const CONFIG_HASH_ANNOTATION = 'figway.dev/config-hash';
/** The field manager the operator applies its objects with. */
export const FIELD_MANAGER = 'figway-operator';
/**
 * Holds a gateway's replica count for the moment the operator lets go of it (autoscaling
 * turned on), so the field is never left without an owner and reset to 1; the HPA's
 * first scale takes it over. See replicasHandover.
 */
export const REPLICAS_HANDOVER_MANAGER = 'figway-replicas-handover';
export const GATEWAY_COMPONENT = 'gateway';
export const GATEWAY_APP_NAME = 'figway-gateway';
export const NAME_SUFFIX = '-gateway';
/** Service names are DNS-1035 labels of at most 63 characters, suffix included. */
export const MAX_APIROUTE_NAME_LENGTH = 63 - NAME_SUFFIX.length;

/** Name shared by all the owned objects of an ApiRoute: `<name>-gateway`. */
export function gatewayName(apiRoute: Pick<ApiRoute, 'metadata'>): string {
  return `${apiRoute.metadata.name}${NAME_SUFFIX}`;
}

/**
 * Pod selector. Deployment selectors are immutable, so it holds only labels that never
 * change for an ApiRoute: adding a label here would break every existing gateway.
 */
export function selectorLabels(apiRoute: Pick<ApiRoute, 'metadata'>): Record<string, string> {
  return {
    'app.kubernetes.io/name': GATEWAY_APP_NAME,
    'app.kubernetes.io/instance': apiRoute.metadata.name,
  };
}

/** Labels of every owned object (and of the gateway pods). */
export function commonLabels(apiRoute: Pick<ApiRoute, 'metadata'>): Record<string, string> {
  return {
    ...selectorLabels(apiRoute),
    'app.kubernetes.io/component': GATEWAY_COMPONENT,
    'app.kubernetes.io/part-of': 'figway',
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    [APIROUTE_LABEL]: apiRoute.metadata.name,
  };
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

/**
 * The controller reference that makes the garbage collector delete the object with its
 * ApiRoute. Absent when the ApiRoute has no uid (a file rendered offline).
 */
export function ownerReferences(
  apiRoute: Pick<ApiRoute, 'metadata'>,
): OwnerReference[] | undefined {
  const uid = apiRoute.metadata.uid;
  if (uid === undefined) return undefined;
  return [
    {
      apiVersion: API_VERSION,
      kind: KIND,
      name: apiRoute.metadata.name,
      uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}
