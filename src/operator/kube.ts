// Every write the operator makes to the API server goes through here: creates and
// server-side apply of owned objects, deletes for pruning, the status merge patch, and
// Events. Errors are rewrapped with what was being done and to which object, keeping the
// API error as cause. Every request takes a token from a client-side rate limit (QPS and
// burst, as client-go's), and a 429 from API Priority and Fairness is retried after the
// Retry-After it names.
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
import { performance } from 'node:perf_hooks';
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
   * Creates an object the caches do not hold (one request where an apply would need a read
   * first to check ownership); undefined when it exists already.
   */
  create<T extends KubernetesObject>(obj: T): Promise<T | undefined>;
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

/**
 * A client-side rate limit on API requests: a token bucket of `burst` tokens refilled at
 * `qps` per second, as client-go's (controller-runtime's defaults: 20 and 30). Written
 * here because a waiting queue in front of one promise-returning call is all it takes;
 * `qps` 0 turns it off.
 */
export class RequestRateLimit {
  private tokens: number;
  private last: number;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when the caller may send one request (in the order asked). */
  take(): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    const turn = this.tail.then(async () => {
      const now = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
      this.last = now;
      if (this.tokens < 1) {
        const waitMs = ((1 - this.tokens) * 1000) / this.qps;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        this.tokens = 1;
        this.last = this.now();
      }
      this.tokens -= 1;
    });
    this.tail = turn;
    return turn;
  }
}

/** Most tries of one request that API Priority and Fairness answers 429. */
const MAX_THROTTLED_TRIES = 5;
/** Retry-After is honoured up to this; a missing or odd value waits 1 s. */
const MAX_RETRY_AFTER_MS = 30_000;

/** How long a 429 asks to wait (Retry-After in seconds), or undefined for another error. */
export function throttledFor(error: unknown): number | undefined {
  if (apiStatusCode(error) !== 429) return undefined;
  const headers = (error as { headers?: Record<string, string> }).headers ?? {};
  const seconds = Number(headers['retry-after'] ?? headers['Retry-After']);
  return Number.isFinite(seconds) && seconds > 0
    ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
    : 1000;
}

type ManagedFields = NonNullable<NonNullable<KubernetesObject['metadata']>['managedFields']>;

/** Union of two FieldsV1 sets (nested objects whose leaves are {}). */
function mergeFieldSets(a: unknown, b: unknown): unknown {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [key, value] of Object.entries(b as Record<string, unknown>)) {
    out[key] = key in out ? mergeFieldSets(out[key], value) : value;
  }
  return out;
}

/**
 * A create records its fields under an Update by our field manager, which later applies
 * would never remove (kubernetes/kubernetes#99003). The managedFields with those fields
 * moved into our Apply entry, or undefined when there is no such Update entry.
 */
export function createFieldsMovedToApply(obj: KubernetesObject): ManagedFields | undefined {
  const entries = obj.metadata?.managedFields ?? [];
  const mine = (operation: string) => (e: ManagedFields[number]) =>
    e.manager === FIELD_MANAGER && e.operation === operation && e.subresource === undefined;
  const created = entries.find(mine('Update'));
  const applied = entries.find(mine('Apply'));
  if (created === undefined || applied === undefined) return undefined;
  return [
    ...entries.filter((e) => e !== created && e !== applied),
    {
      // eslint-disable-next-line @typescript-eslint/no-misused-spread -- plain JSON from the API
      ...applied,
      fieldsV1: mergeFieldSets(applied.fieldsV1 ?? {}, created.fieldsV1 ?? {}) as object,
    },
  ];
}

export class KubeClusterWriter implements ClusterWriter {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly limit: RequestRateLimit = new RequestRateLimit(0, 0),
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** One request: a rate-limit token first, and again after each 429's Retry-After. */
  private async send<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      await this.limit.take();
      try {
        return await request();
      } catch (error) {
        const waitMs = throttledFor(error);
        if (waitMs === undefined || attempt >= MAX_THROTTLED_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  async create<T extends KubernetesObject>(obj: T): Promise<T | undefined> {
    try {
      return await this.send(() => this.objects.create(obj, undefined, undefined, FIELD_MANAGER));
    } catch (error) {
      if (apiStatusCode(error) === 409) return undefined;
      throw new ApiCallError(`failed to create ${describeObject(obj)}`, error);
    }
  }

  async apply<T extends KubernetesObject>(obj: T, as?: { fieldManager: string }): Promise<T> {
    const ssa = () =>
      this.send(() =>
        this.objects.patch(
          obj,
          undefined,
          undefined,
          as?.fieldManager ?? FIELD_MANAGER,
          as === undefined,
          PatchStrategy.ServerSideApply,
        ),
      );
    try {
      const applied = await ssa();
      // Only the operator's own manager took over fields from its create.
      const managedFields = as === undefined ? createFieldsMovedToApply(applied) : undefined;
      if (managedFields === undefined) return applied;
      // The first apply after our create: the create's fields become the apply's (fenced
      // by resourceVersion), and the apply is repeated so that fields the create set and
      // this object no longer has are removed. Once per object, when it first changes.
      await this.send(() =>
        this.objects.patch(
          {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            metadata: {
              name: obj.metadata?.name,
              namespace: obj.metadata?.namespace,
              resourceVersion: applied.metadata?.resourceVersion,
              managedFields,
            },
          },
          undefined,
          undefined,
          FIELD_MANAGER,
          undefined,
          PatchStrategy.MergePatch,
        ),
      );
      return await ssa();
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
      return await this.send(() => this.objects.read(header));
    } catch (error) {
      if (apiStatusCode(error) === 404) return undefined;
      throw new ApiCallError(`failed to read ${describeObject(obj)}`, error);
    }
  }

  async delete(obj: KubernetesObject, uid: string): Promise<void> {
    try {
      await this.send(() =>
        this.objects.delete(obj, undefined, undefined, undefined, undefined, 'Background', {
          preconditions: { uid },
        }),
      );
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
      await this.send(() =>
        this.custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );
    } catch (error) {
      throw new ApiCallError(`failed to write status of ApiRoute ${namespace}/${name}`, error);
    }
  }

  async createEvent(event: CoreV1Event): Promise<void> {
    const namespace = event.metadata.namespace ?? DEFAULT_NAMESPACE;
    try {
      await this.send(() => this.core.createNamespacedEvent({ namespace, body: event }));
    } catch (error) {
      throw new ApiCallError(
        `failed to create Event for ${event.involvedObject.kind ?? ''} ${namespace}/${event.involvedObject.name ?? ''}`,
        error,
      );
    }
  }
}
