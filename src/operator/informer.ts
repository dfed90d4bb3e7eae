// The operator's informers: the resilient watch of src/common/watch.ts (restarts with
// backoff, 410 relists, a watchdog, isolated handlers, resync) with what the operator adds:
// - a kind, for logs and metrics;
// - metadata.managedFields is dropped before an object enters the cache (as
//   controller-runtime's TransformStripManagedFields does): nothing here reads it, and on
//   a Deployment it is as large as the rest of the object.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { BackoffPolicy } from '../common/backoff.js';
import {
  ResilientWatch,
  type RelistReason,
  type Selectors,
  type WatchEvent,
} from '../common/watch.js';

export type InformerEvent = WatchEvent;

/** Drops what the cache never needs from a freshly decoded object, in place. */
function stripForCache<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata) delete obj.metadata.managedFields;
  return obj;
}

/** What goes into the cache: stripped of managedFields, then slimmed further if asked. */
function slimmer<T extends KubernetesObject>(slim: ((obj: T) => T) | undefined): (obj: T) => T {
  return slim === undefined ? stripForCache : (obj) => slim(stripForCache(obj));
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. ApiRoute or Deployment. */
  kind: string;
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /apis/apps/v1/deployments. */
  path: string;
  /** Lists the collection with the informer's selectors. */
  list: (selectors: Selectors) => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Drops more from each object before it is cached (after managedFields). */
  slim?: (obj: T) => T;
  /** Handlers only enqueue keys; a throw is reported to onHandlerError, never propagated. */
  onEvent(event: InformerEvent, obj: T, previous?: T): void;
  /** A list or watch failed; the informer tries again after `delayMs`. */
  onRestart?(error: unknown, delayMs: number): void;
  /** The cache is rebuilt from a fresh list. */
  onRelist?(reason: RelistReason): void;
  /** A handler threw. */
  onHandlerError?(error: unknown): void;
  resyncMs?: number;
  /** Relist after this long without an event or a bookmark (common/watch.ts default). */
  silenceLimitMs?: number;
  /** Retries of a failed list or watch (common/watch.ts default: 0.5 s doubling to 30 s). */
  backoff?: BackoffPolicy;
  random?: () => number;
}

export class ResilientInformer<T extends KubernetesObject> extends ResilientWatch<T> {
  readonly kind: string;

  constructor(options: ResilientInformerOptions<T>) {
    super({
      kubeConfig: options.kubeConfig,
      path: options.path,
      list: options.list,
      labelSelector: options.labelSelector,
      transform: slimmer(options.slim),
      onEvent: (event, obj, previous) => {
        options.onEvent(event, obj, previous);
      },
      onFailure: ({ error, retryInMs }) => options.onRestart?.(error, retryInMs),
      onRelist: (reason) => options.onRelist?.(reason),
      onHandlerError: (error) => options.onHandlerError?.(error),
      resyncMs: options.resyncMs,
      silenceLimitMs: options.silenceLimitMs,
      backoff: options.backoff,
      random: options.random,
    });
    this.kind = options.kind;
  }
}
