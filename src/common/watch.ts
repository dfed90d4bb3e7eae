// A list+watch of one Kubernetes collection that keeps going whatever the API server does:
// the operator's informers and the gateway's route-table ConfigMap both stand on it. The
// watch is treated as unreliable (after client-go's reflector and kubernetes-fluent-client's
// watcher); client-node's ListWatch, by contrast, stops for good after any error but 410.
// - List with the selectors, then watch from the list's resourceVersion with bookmarks, and
//   resume from the last resourceVersion seen (an event's or a bookmark's).
// - A failed list or watch is retried after a capped, jittered backoff (common/backoff.ts).
// - 410 Gone, as an ERROR event or as the watch's HTTP status (the resourceVersion has left
//   the API server's history), relists at once (with backoff when it repeats).
// - A clean end (the server's timeoutSeconds elapsed) resumes at once, and so does a
//   connection that carried nothing for longer than a healthy one does (taken for dead).
// - A watchdog relists when nothing at all, not even a bookmark, arrived for a while: a
//   watch can stay connected, or keep reconnecting, and still deliver nothing.
// - Every object passes a transform before it is cached, and the cache answers get/list.
// - Handlers are isolated: a throw or a rejected promise is reported, the watch goes on.
// The watch request is read here rather than through client-node's Watch: its single 30 s
// timeout covers both the wait for the response and the gaps between bytes, so it cuts a
// quiet, healthy watch before the API server's first bookmark, and every quiet watch cost
// a request per 30 s.
import {
  HttpMethod,
  RequestContext,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { fetch } from 'undici';
import { checkBackoffPolicy, equalJitterBackoff, type BackoffPolicy } from './backoff.js';

/** What happened to a cached object; `resync` hands an unchanged one to the handler again. */
export type WatchEvent = 'add' | 'update' | 'delete' | 'resync';

/** Why the cache is rebuilt from a fresh list. */
export type RelistReason =
  /** 410 Gone: the resourceVersion to resume from is no longer in the API server's history. */
  | 'expired'
  /** The watchdog: nothing, not even a bookmark, arrived for silenceLimitMs. */
  | 'silent';

/** The selectors of the collection; the list and the watch use the same ones. */
export interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchFailure {
  /** The list failed, or the watch did (a refused request, a broken stream, an ERROR event). */
  phase: 'list' | 'watch';
  error: unknown;
  /** The next attempt follows after this long. */
  retryInMs: number;
}

export interface ResilientWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /apis/apps/v1/deployments. */
  path: string;
  /** Lists the collection with these selectors (injected: a typed client call). */
  list(selectors: Selectors): Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied to every listed or watched object before it is cached; may change it in place. */
  transform?(obj: T): T;
  /**
   * A cached object changed (or is resynced). `previous` is the cached object an update
   * replaced, for handlers that ignore changes they do not care about. May return a
   * promise; it is not awaited.
   */
  onEvent(event: WatchEvent, obj: T, previous?: T): void | Promise<void>;
  /** A list or watch failed and will be tried again. */
  onFailure?(failure: WatchFailure): void;
  /** The cache is about to be rebuilt from a fresh list. */
  onRelist?(reason: RelistReason): void;
  /** A handler, the transform or a hook threw (or its promise rejected). */
  onHandlerError?(error: unknown): void;
  /** The API server ends each watch after this long; it resumes at once. */
  watchTimeoutSeconds?: number;
  /** A watch connection that carries nothing for this long is taken for dead and reopened. */
  inactivityLimitMs?: number;
  /** A watch request that gets no response headers within this long has failed. */
  connectTimeoutMs?: number;
  /** The watchdog relists after this long without an event or a bookmark. */
  silenceLimitMs?: number;
  /** Hands every cached object to onEvent('resync') this often (no API request). */
  resyncMs?: number;
  backoff?: BackoffPolicy;
  /** [0, 1), for the backoff's jitter; injectable for deterministic tests. */
  random?: () => number;
}

/**
 * Five minutes, client-go's minimum: a busy watch costs one request per five minutes, and
 * the bookmark the API server sends 2 s before it ends a watch lets the next one resume
 * from a recent resourceVersion.
 */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

/**
 * 90 s: on a quiet watch the API server sends a bookmark about once a minute while the
 * resource's version moves (measured on the test control plane: at 60 s and 120 s), so a
 * healthy connection is never silent this long, unless the whole cluster is idle, where
 * reopening it costs one request per 90 s.
 */
export const DEFAULT_INACTIVITY_LIMIT_MS = 90_000;

/** As long as client-node's Watch waits for a response. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/**
 * 15 minutes: longer than the longest quiet gap between bookmarks on a healthy API server.
 * Its watch cache sends one only once the resource's version moved, which in an idle cluster
 * can wait for etcd's progress notification (every 10 minutes by default); measured on the
 * test control plane, quiet watches got a bookmark about once a minute.
 */
export const DEFAULT_SILENCE_LIMIT_MS = 15 * 60_000;

export const DEFAULT_WATCH_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/**
 * A watch that closes cleanly this soon without delivering anything counts as failed (as in
 * client-go's "very short watch"), so a server that hangs up at once is not hammered.
 */
const SHORT_WATCH_MS = 1000;

/** The Status an ERROR event carries. */
export interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

/** A watch request the API server answered with a status other than 200. */
export class WatchRequestError extends Error {
  constructor(
    readonly statusCode: number,
    serverMessage: string | undefined,
  ) {
    super(
      `the API server refused the watch: HTTP ${statusCode}${serverMessage ? `: ${serverMessage}` : ''}`,
    );
    this.name = 'WatchRequestError';
  }
}

/** An ERROR event on the watch, other than 410 Gone. */
export class WatchStatusError extends Error {
  constructor(readonly status: WatchStatus) {
    super(
      `the API server sent an ERROR event: ${status.message ?? 'no message'} (${status.reason ?? 'no reason'}, code ${status.code ?? 'none'})`,
    );
    this.name = 'WatchStatusError';
  }
}

/** Objects by namespace ('' for cluster-scoped ones) and name. */
class ObjectCache<T extends KubernetesObject> {
  private readonly byNamespace = new Map<string, Map<string, T>>();

  get(name: string, namespace = ''): T | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined || namespace === '') {
      return [...this.byNamespace.values()].flatMap((objects) => [...objects.values()]);
    }
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  /** Stores obj; undefined when that resourceVersion of it was cached already. */
  upsert(obj: T): { event: 'add' | 'update'; previous: T | undefined } | undefined {
    const namespace = obj.metadata?.namespace ?? '';
    let objects = this.byNamespace.get(namespace);
    if (!objects) {
      objects = new Map();
      this.byNamespace.set(namespace, objects);
    }
    const name = obj.metadata?.name ?? '';
    const cached = objects.get(name);
    const rv = obj.metadata?.resourceVersion;
    if (cached && rv !== undefined && cached.metadata?.resourceVersion === rv) return undefined;
    objects.set(name, obj);
    return { event: cached ? 'update' : 'add', previous: cached };
  }

  /** Removes obj; false when it was not cached. */
  remove(obj: T): boolean {
    const namespace = obj.metadata?.namespace ?? '';
    const objects = this.byNamespace.get(namespace);
    if (!objects?.delete(obj.metadata?.name ?? '')) return false;
    if (objects.size === 0) this.byNamespace.delete(namespace);
    return true;
  }

  /** The cached objects that `items` does not hold. */
  absentFrom(items: readonly T[]): T[] {
    const present = new Set(
      items.map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`),
    );
    return this.list().filter(
      (o) => !present.has(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`),
    );
  }
}

type State = 'stopped' | 'listing' | 'watching' | 'waiting';

/** What one watch request has seen so far. */
interface OpenWatch {
  readonly attempt: number;
  readonly openedAt: number;
  /** When the headers or the last byte arrived (performance.now()). */
  lastByteAt: number;
  responded: boolean;
  /** An object or a bookmark arrived. */
  delivered: boolean;
  /** Aborted by the connection timer. */
  timedOut: boolean;
}

/** The server's message from the body of a refused request, if it is a Status. */
async function serverMessage(response: { text(): Promise<string> }): Promise<string | undefined> {
  try {
    const status = JSON.parse(await response.text()) as { message?: unknown } | null;
    return typeof status?.message === 'string' ? status.message : undefined;
  } catch {
    return undefined;
  }
}

export class ResilientWatch<T extends KubernetesObject> {
  /** Resolves once the first list is in the cache (and its add events delivered). */
  readonly synced: Promise<void>;
  private readonly cache = new ObjectCache<T>();
  private readonly selectors: Selectors;
  private readonly timeoutSeconds: number;
  private readonly inactivityLimitMs: number;
  private readonly connectTimeoutMs: number;
  /** The watchdog's limit: relist after this long without an event or a bookmark. */
  readonly silenceLimitMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private state: State = 'stopped';
  /** Bumped by every list or watch started, and by stop: a callback of an older one is stale. */
  private attempt = 0;
  private resourceVersion = '';
  /** Consecutive failures; any event or bookmark resets them. */
  private failures = 0;
  private abort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private lastHeardAt = 0;
  private syncedFlag = false;
  private resolveSynced: () => void = () => undefined;

  constructor(private readonly options: ResilientWatchOptions<T>) {
    this.timeoutSeconds = options.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
    if (!Number.isInteger(this.timeoutSeconds) || this.timeoutSeconds < 1) {
      throw new RangeError(
        `watchTimeoutSeconds must be a whole number of seconds >= 1, got ${this.timeoutSeconds}`,
      );
    }
    this.inactivityLimitMs = options.inactivityLimitMs ?? DEFAULT_INACTIVITY_LIMIT_MS;
    if (!(this.inactivityLimitMs > 0)) {
      throw new RangeError(`inactivityLimitMs must be > 0, got ${this.inactivityLimitMs}`);
    }
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(this.connectTimeoutMs > 0)) {
      throw new RangeError(`connectTimeoutMs must be > 0, got ${this.connectTimeoutMs}`);
    }
    this.silenceLimitMs = options.silenceLimitMs ?? DEFAULT_SILENCE_LIMIT_MS;
    if (!(this.silenceLimitMs > 0)) {
      throw new RangeError(`silenceLimitMs must be > 0, got ${this.silenceLimitMs}`);
    }
    this.backoff = checkBackoffPolicy(options.backoff ?? DEFAULT_WATCH_BACKOFF, [
      'backoff.initialMs',
      'backoff.maxMs',
    ]);
    this.random = options.random ?? Math.random;
    this.selectors = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  get isSynced(): boolean {
    return this.syncedFlag;
  }

  /** Starts listing and watching in the background; see `synced`. */
  start(): void {
    if (this.state !== 'stopped') return;
    this.run();
    const resyncMs = this.options.resyncMs;
    if (resyncMs !== undefined && resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        this.resync();
      }, resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Ends the watch; nothing is retried. The cache stays readable; start resumes. */
  stop(): Promise<void> {
    this.state = 'stopped';
    this.endAttempt();
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    clearInterval(this.resyncTimer);
    return Promise.resolve();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(name, namespace);
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.cache.list(namespace);
  }

  /** Hands every cached object to the handler again. */
  resync(): void {
    for (const obj of this.cache.list()) this.emit('resync', obj);
  }

  /** Lists when there is no resourceVersion to resume from, then watches. */
  private run(): void {
    const attempt = ++this.attempt;
    if (this.resourceVersion !== '') {
      this.openWatch(attempt);
      return;
    }
    this.state = 'listing';
    // Through then(), so that a list function that throws instead of rejecting is retried too.
    Promise.resolve()
      .then(() => this.options.list(this.selectors))
      .then(
        (list) => {
          if (attempt === this.attempt) this.listed(list, attempt);
        },
        (error: unknown) => {
          if (attempt === this.attempt) this.fail('list', error);
        },
      );
  }

  private listed(list: KubernetesListObject<T>, attempt: number): void {
    const items = list.items.map((obj) => this.transformed(obj));
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.heard();
    for (const gone of this.cache.absentFrom(items)) {
      this.cache.remove(gone);
      this.emit('delete', gone);
    }
    for (const obj of items) {
      const change = this.cache.upsert(obj);
      if (change) this.emit(change.event, obj, change.previous);
    }
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.resolveSynced();
    }
    // A handler may have stopped the watch.
    if (attempt === this.attempt) this.openWatch(attempt);
  }

  private openWatch(attempt: number): void {
    this.state = 'watching';
    const controller = new AbortController();
    this.abort = controller;
    const now = performance.now();
    const watch: OpenWatch = {
      attempt,
      openedAt: now,
      lastByteAt: now,
      responded: false,
      delivered: false,
      timedOut: false,
    };
    // One timer per limit rather than one per chunk: a chunk only records the time.
    const limitMs = () => (watch.responded ? this.inactivityLimitMs : this.connectTimeoutMs);
    const check = () => {
      const quietMs = performance.now() - watch.lastByteAt;
      if (quietMs >= limitMs()) {
        watch.timedOut = true;
        controller.abort();
      } else {
        timer = setTimeout(check, limitMs() - quietMs);
        timer.unref();
      }
    };
    // The first check comes at the shorter limit, whichever applies by then.
    let timer = setTimeout(check, Math.min(this.connectTimeoutMs, this.inactivityLimitMs));
    timer.unref();
    this.stream(watch, controller.signal)
      .then(
        () => {
          if (attempt === this.attempt) this.watchClosed(watch);
        },
        (error: unknown) => {
          if (attempt === this.attempt) this.watchFailed(watch, error);
        },
      )
      .finally(() => {
        clearTimeout(timer);
      });
  }

  /** Sends one watch request and hands its events on, line by line, until it ends. */
  private async stream(watch: OpenWatch, signal: AbortSignal): Promise<void> {
    const cluster = this.options.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server + this.options.path);
    const { labelSelector, fieldSelector } = this.selectors;
    if (labelSelector !== undefined) url.searchParams.set('labelSelector', labelSelector);
    if (fieldSelector !== undefined) url.searchParams.set('fieldSelector', fieldSelector);
    url.searchParams.set('watch', 'true');
    url.searchParams.set('resourceVersion', this.resourceVersion);
    url.searchParams.set('allowWatchBookmarks', 'true');
    url.searchParams.set('timeoutSeconds', String(this.timeoutSeconds));
    const request = new RequestContext(url.toString(), HttpMethod.GET);
    await this.options.kubeConfig.applySecurityAuthentication(request);
    const response = await fetch(url, {
      headers: request.getHeaders(),
      dispatcher: request.getDispatcher(),
      signal,
    });
    watch.responded = true;
    watch.lastByteAt = performance.now();
    if (response.status !== 200) {
      throw new WatchRequestError(response.status, await serverMessage(response));
    }
    if (!response.body) return;
    const decoder = new TextDecoder();
    let partial = '';
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      watch.lastByteAt = performance.now();
      const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        // An ERROR event, the watchdog or stop ended this watch: the rest is stale.
        if (watch.attempt !== this.attempt) return;
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as { type?: unknown; object?: unknown } | null;
        if (this.onWatchEvent(String(event?.type), event?.object)) watch.delivered = true;
      }
    }
  }

  /** True for an event that shows the watch delivering (an object or a bookmark). */
  private onWatchEvent(type: string, object: unknown): boolean {
    if (type === 'ERROR') {
      const status = (object ?? {}) as WatchStatus;
      if (status.code === 410) this.relistExpired();
      else this.fail('watch', new WatchStatusError(status));
      return false;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') {
      return false;
    }
    this.failures = 0;
    this.heard();
    const rv = (object as KubernetesObject | undefined)?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return true;
    const obj = this.transformed(object as T);
    if (type === 'DELETED') {
      if (this.cache.remove(obj)) this.emit('delete', obj);
    } else {
      const change = this.cache.upsert(obj);
      if (change) this.emit(change.event, obj, change.previous);
    }
    return true;
  }

  /** The server closed the stream. */
  private watchClosed(watch: OpenWatch): void {
    this.abort = undefined;
    if (watch.delivered || performance.now() - watch.openedAt >= SHORT_WATCH_MS) {
      // The server's timeoutSeconds elapsed: the connection was healthy.
      this.failures = 0;
      this.run();
    } else {
      this.fail('watch', new Error('the API server closed the watch at once, without an event'));
    }
  }

  private watchFailed(watch: OpenWatch, error: unknown): void {
    this.abort = undefined;
    if (watch.timedOut && watch.responded) {
      // Quiet past the inactivity limit: taken for a dead connection, reopened at once. The
      // wait itself throttles this, and a watch that stays without news meets the watchdog.
      this.run();
    } else if (watch.timedOut) {
      this.fail(
        'watch',
        new Error(`the API server did not answer the watch within ${this.connectTimeoutMs} ms`),
      );
    } else if (error instanceof WatchRequestError && error.statusCode === 410) {
      this.relistExpired();
    } else {
      this.fail('watch', error);
    }
  }

  /**
   * 410 Gone: relists, at once the first time. A 410 again before any event or bookmark
   * waits out the backoff, so a server that answers every watch with 410 is not hammered.
   */
  private relistExpired(): void {
    this.endAttempt();
    this.resourceVersion = '';
    this.hook(() => this.options.onRelist?.('expired'));
    if (this.isStopped()) return;
    this.failures += 1;
    if (this.failures === 1) this.run();
    else this.retryAfter(equalJitterBackoff(this.failures, this.backoff, this.random));
  }

  private fail(phase: WatchFailure['phase'], error: unknown): void {
    this.endAttempt();
    this.failures += 1;
    const retryInMs = equalJitterBackoff(this.failures, this.backoff, this.random);
    this.hook(() => this.options.onFailure?.({ phase, error, retryInMs }));
    if (!this.isStopped()) this.retryAfter(retryInMs);
  }

  private retryAfter(delayMs: number): void {
    this.state = 'waiting';
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'waiting') this.run();
    }, delayMs);
  }

  /** A method, not a property read: TypeScript would keep a narrowed state across hooks. */
  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  /** Makes the current list or watch stale and closes the watch's connection. */
  private endAttempt(): void {
    this.attempt += 1;
    this.abort?.abort();
    this.abort = undefined;
  }

  /** Something arrived: the watchdog starts counting again. */
  private heard(): void {
    this.lastHeardAt = performance.now();
    if (this.watchdog === undefined) this.armWatchdog(this.silenceLimitMs);
  }

  private armWatchdog(delayMs: number): void {
    this.watchdog = setTimeout(() => {
      this.checkSilence();
    }, delayMs);
    this.watchdog.unref();
  }

  /**
   * One timer per limit rather than one per event: an event only records the time, and a
   * timer that fires before the limit is reached waits out the rest.
   */
  private checkSilence(): void {
    this.watchdog = undefined;
    const silentMs = performance.now() - this.lastHeardAt;
    if (silentMs < this.silenceLimitMs) {
      this.armWatchdog(this.silenceLimitMs - silentMs);
      return;
    }
    if (this.state === 'watching') {
      this.endAttempt();
      this.resourceVersion = '';
      this.hook(() => this.options.onRelist?.('silent'));
      if (!this.isStopped()) this.run();
    } else if (this.state === 'waiting' && this.resourceVersion !== '') {
      // Backing off after failures: the retry relists instead of resuming.
      this.resourceVersion = '';
      this.hook(() => this.options.onRelist?.('silent'));
    }
    // 'listing': the list in flight is the relist. heard() rearms after a list or an event.
  }

  private transformed(obj: T): T {
    if (!this.options.transform) return obj;
    try {
      return this.options.transform(obj);
    } catch (error) {
      this.handlerFailed(error);
      return obj;
    }
  }

  private emit(event: WatchEvent, obj: T, previous?: T): void {
    try {
      const result = this.options.onEvent(event, obj, previous);
      if (result instanceof Promise) {
        result.catch((error: unknown) => {
          this.handlerFailed(error);
        });
      }
    } catch (error) {
      this.handlerFailed(error);
    }
  }

  /** Runs a reporting hook: logs and metrics must not break the watch. */
  private hook(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.handlerFailed(error);
    }
  }

  private handlerFailed(error: unknown): void {
    try {
      this.options.onHandlerError?.(error);
    } catch {
      // The last place to report to failed too; the watch goes on regardless.
    }
  }
}
