// Every write the operator makes to the API server goes through here: server-side apply of
// owned objects, deletes for pruning, the status merge patch, and Events. Errors are
// rewrapped with what was being done and to which object, keeping the API error as cause.
//
// client-node declares its models as classes without behaviour; the API takes plain JSON.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { DEFAULT_NAMESPACE, GROUP, PLURAL, VERSION, type ApiRouteStatus } from '../api/index.js';
import { apiStatusCode, describeApiError } from '../common/api-error.js';
import { FIELD_MANAGER } from './desired-state/index.js';

/** An API call failed; the message says which call and on what. */
export class ApiCallError extends Error {
  readonly code: number | undefined;
  constructor(context: string, cause: unknown) {
    super(`${context}: ${describeApiError(cause)}`, { cause });
    this.name = 'ApiCallError';
    this.code = apiStatusCode(cause);
  }
}

export function describeObject(obj: KubernetesObject): string {
  return `${obj.kind ?? 'object'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
}

/** The writes (and the one uncached read) reconcile makes; an interface so tests can fake it. */
export interface ClusterWriter {
  /**
   * Server-side apply with the operator's field manager, forcing ownership of our fields;
   * `as` applies with another manager, without force (a conflict is an error).
   */
  apply<T extends KubernetesObject>(obj: T, as?: { fieldManager: string }): Promise<T>;
  /** Reads an object that is not in an informer cache; undefined when it does not exist. */
  read(obj: KubernetesObject): Promise<KubernetesObject | undefined>;
  /** Deletes an object, only if it still has this uid. Already gone is success. */
  delete(obj: KubernetesObject, uid: string): Promise<void>;
  patchApiRouteStatus(namespace: string, name: string, status: ApiRouteStatus): Promise<void>;
  createEvent(event: CoreV1Event): Promise<void>;
}

export class KubeClusterWriter implements ClusterWriter {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async apply<T extends KubernetesObject>(obj: T, as?: { fieldManager: string }): Promise<T> {
    try {
      return await this.objects.patch(
        obj,
        undefined,
        undefined,
        as?.fieldManager ?? FIELD_MANAGER,
        as === undefined,
        PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      throw new ApiCallError(`failed to apply ${describeObject(obj)}`, error);
    }
  }

  async read(obj: KubernetesObject): Promise<KubernetesObject | undefined> {
    const header = {
      apiVersion: obj.apiVersion ?? 'v1',
      kind: obj.kind ?? '',
      metadata: {
        name: obj.metadata?.name ?? '',
        namespace: obj.metadata?.namespace ?? DEFAULT_NAMESPACE,
      },
    };
    try {
      return await this.objects.read(header);
    } catch (error) {
      if (apiStatusCode(error) === 404) return undefined;
      throw new ApiCallError(`failed to read ${describeObject(obj)}`, error);
    }
  }

  async delete(obj: KubernetesObject, uid: string): Promise<void> {
    try {
      await this.objects.delete(obj, undefined, undefined, undefined, undefined, 'Background', {
        preconditions: { uid },
      });
    } catch (error) {
      // 404: already gone. 409: the uid precondition failed, so it is a different object now.
      const code = apiStatusCode(error);
      if (code === 404 || code === 409) return;
      throw new ApiCallError(`failed to delete ${describeObject(obj)}`, error);
    }
  }

  async patchApiRouteStatus(
    namespace: string,
    name: string,
    status: ApiRouteStatus,
  ): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (error) {
      throw new ApiCallError(`failed to write status of ApiRoute ${namespace}/${name}`, error);
    }
  }

  async createEvent(event: CoreV1Event): Promise<void> {
    const namespace = event.metadata.namespace ?? DEFAULT_NAMESPACE;
    try {
      await this.core.createNamespacedEvent({ namespace, body: event });
    } catch (error) {
      throw new ApiCallError(
        `failed to create Event for ${event.involvedObject.kind ?? ''} ${namespace}/${event.involvedObject.name ?? ''}`,
        error,
      );
    }
  }
}
