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
import { GROUP, PLURAL, VERSION, type ApiRouteStatus } from '../api/index.js';
import { FIELD_MANAGER } from './desired-state/index.js';

/** HTTP status of an API error, when it has one. */
export function statusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A one-line description of an API error: the server's message, not the headers dump. */
export function describeApiError(error: unknown): string {
  const e = error as { code?: unknown; body?: unknown; message?: unknown };
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // Not JSON: use it as text below.
    }
  }
  const serverMessage =
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : typeof body === 'string' && body !== ''
        ? body
        : undefined;
  const code = statusCode(error);
  if (serverMessage) return code ? `${serverMessage} (HTTP ${code})` : serverMessage;
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split('\n')[0] ?? message;
  return code && !first.includes(String(code)) ? `${first} (HTTP ${code})` : first;
}

/** An API call failed; the message says which call and on what. */
export class ApiCallError extends Error {
  readonly code: number | undefined;
  constructor(context: string, cause: unknown) {
    super(`${context}: ${describeApiError(cause)}`, { cause });
    this.name = 'ApiCallError';
    this.code = statusCode(cause);
  }
}

export function describeObject(obj: KubernetesObject): string {
  return `${obj.kind ?? 'object'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
}

/** The writes (and the one uncached read) reconcile makes; an interface so tests can fake it. */
export interface ClusterWriter {
  /** Server-side apply with the operator's field manager, forcing ownership of our fields. */
  apply<T extends KubernetesObject>(obj: T): Promise<T>;
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

  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    try {
      return await this.objects.patch(
        obj,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
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
      metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? 'default' },
    };
    try {
      return await this.objects.read(header);
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
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
      const code = statusCode(error);
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
    const namespace = event.metadata.namespace ?? 'default';
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
