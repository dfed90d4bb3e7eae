// client-node's ListWatch, made safe to depend on. It stops for good after any watch or
// list error other than 410 (it emits 'error' and returns), and an exception thrown by a
// handler is swallowed by its line parser or becomes an unhandled rejection. So:
// - handlers are wrapped: they only enqueue keys, and a throw is logged, never propagated;
// - on 'error' the informer is restarted after a capped, jittered backoff, resuming from
//   the last resourceVersion (ListWatch relists by itself on 410 Gone);
// - a periodic resync hands every cached object to the handler again, so a missed event
//   is repaired within one resync period;
// - metadata.managedFields is dropped before an object enters the cache (as
//   controller-runtime's TransformStripManagedFields does): nothing here reads it, and on
//   a Deployment it is as large as the rest of the object.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { backoffDelay } from './queue.js';

export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';

/** Drops what the cache never needs from a freshly decoded object, in place. */
function stripForCache<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata) delete obj.metadata.managedFields;
  return obj;
}

/** A Watch whose objects are stripped before ListWatch stores them. */
class StrippingWatch extends Watch {
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, apiObj: KubernetesObject, watchObj) => {
        callback(phase, stripForCache(apiObj), watchObj);
      },
      done,
    );
  }
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. ApiRoute or Deployment. */
  kind: string;
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /apis/apps/v1/deployments. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  onEvent(event: InformerEvent, obj: T): void;
  /** The informer failed and will restart after `delayMs`. */
  onRestart?(error: unknown, delayMs: number): void;
  /** A handler threw. */
  onHandlerError?(error: unknown): void;
  resyncMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private syncedFlag = false;
  private resolveSynced: () => void = () => undefined;
  readonly synced: Promise<void>;

  constructor(private readonly options: ResilientInformerOptions<T>) {
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
    const list = async () => {
      const result = await options.list();
      for (const item of result.items) stripForCache(item);
      this.failures = 0;
      // ListWatch adds the items only when its `await` of this promise resumes, a few
      // microtasks later; resolving `synced` now would hand callers an empty cache. By
      // the next macrotask the items are in.
      setImmediate(() => {
        this.syncedFlag = true;
        this.resolveSynced();
      });
      return result;
    };
    this.lw = new ListWatch<T>(
      options.path,
      new StrippingWatch(options.kubeConfig),
      list,
      false,
      options.labelSelector,
    );
    const deliver = (event: InformerEvent) => (obj: T) => {
      this.failures = 0;
      this.handle(event, obj);
    };
    this.lw.on('add', deliver('add'));
    this.lw.on('update', deliver('update'));
    this.lw.on('delete', deliver('delete'));
    this.lw.on('error', (error: unknown) => {
      this.scheduleRestart(error);
    });
  }

  get isSynced(): boolean {
    return this.syncedFlag;
  }

  get kind(): string {
    return this.options.kind;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.run();
    const resyncMs = this.options.resyncMs;
    if (resyncMs !== undefined && resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        this.resync();
      }, resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    await this.lw.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  /** Hands every cached object to the handler again. */
  resync(): void {
    for (const obj of this.lw.list()) this.handle('resync', obj);
  }

  private run(): void {
    // start() rejects only when the watch cannot even be set up (e.g. no credentials).
    this.lw.start().catch((error: unknown) => {
      this.scheduleRestart(error);
    });
  }

  private scheduleRestart(error: unknown): void {
    if (this.stopped) return;
    this.failures += 1;
    const delay = backoffDelay(
      this.failures,
      this.options.initialBackoffMs ?? 500,
      this.options.maxBackoffMs ?? 30_000,
      this.options.random ?? Math.random,
    );
    try {
      this.options.onRestart?.(error, delay);
    } catch {
      // Logging and metrics must not stop the restart.
    }
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) this.run();
    }, delay);
  }

  private handle(event: InformerEvent, obj: T): void {
    try {
      this.options.onEvent(event, obj);
    } catch (error) {
      this.options.onHandlerError?.(error);
    }
  }
}
