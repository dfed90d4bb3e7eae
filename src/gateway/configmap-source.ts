// The gateway's config source in a cluster: its route-table ConfigMap, watched through the
// Kubernetes API. A mounted ConfigMap volume would be simpler, but the kubelet syncs volumes
// only every minute or so; a watch delivers an ApiRoute edit in milliseconds, without a
// restart. The watch is treated as unreliable: any error resumes it from the last seen
// resourceVersion after a capped, jittered backoff, and 410 Gone (history compacted)
// relists. Only ONE ConfigMap is ever read (fieldSelector metadata.name), so the gateway's
// Role can be limited to that name.
import { CoreV1Api, Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { loadKubeConfig } from '../common/kube-config.js';
import { parseRouteTable, ROUTE_TABLE_KEY, type RouteTable } from '../api/index.js';
import type { ConfigSource } from './config-source.js';

export interface ConfigMapConfigSourceOptions {
  namespace: string;
  name: string;
  /** Defaults to in-cluster config, or $KUBECONFIG / ~/.kube/config outside a cluster. */
  kubeConfig?: KubeConfig;
  /** First retry delay after a failed list or watch; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * The API server ends each watch after about this long, and the source resumes it from
   * the last resourceVersion. Shorter than client-node's 30 s inactivity timeout, so a
   * quiet ConfigMap never looks like a dead connection.
   */
  watchTimeoutSeconds?: number;
  random?: () => number;
}

/** What a watch event carries: a ConfigMap, a bookmark, or a Status on ERROR. */
interface WatchObject {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
  code?: number;
  message?: string;
}

export class ConfigMapConfigSource implements ConfigSource {
  readonly description: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly watchTimeoutSeconds: number;
  private readonly random: () => number;
  private resourceVersion = '';
  private lastText: string | undefined;
  private failures = 0;
  private stopped = true;
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onConfig: (table: RouteTable) => void = () => undefined;
  private onError: (err: Error) => void = () => undefined;

  constructor(private readonly options: ConfigMapConfigSourceOptions) {
    this.kc = options.kubeConfig ?? loadKubeConfig();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.initialBackoffMs = options.initialBackoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 25;
    this.random = options.random ?? Math.random;
    this.description = `configmap:${options.namespace}/${options.name}`;
  }

  /** Resolves after the first list, whether or not it found a valid table; keeps watching. */
  async start(onConfig: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    this.onConfig = onConfig;
    this.onError = onError;
    this.stopped = false;
    if (await this.list()) this.watch();
    else this.retryLater();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = undefined;
    return Promise.resolve();
  }

  /** Reads the ConfigMap and the collection's resourceVersion to watch from. */
  private async list(): Promise<boolean> {
    let list;
    try {
      list = await this.core.listNamespacedConfigMap({
        namespace: this.options.namespace,
        fieldSelector: `metadata.name=${this.options.name}`,
      });
    } catch (error) {
      this.report(`failed to list ConfigMap ${this.name()}`, error);
      return false;
    }
    if (this.stopped) return false;
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    const item = list.items[0];
    if (item === undefined) {
      this.onError(new Error(`ConfigMap ${this.name()} not found; keeping the last route table`));
    } else {
      this.load(item);
    }
    return true;
  }

  private watch(): void {
    if (this.stopped) return;
    const watcher = new Watch(this.kc);
    const path = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/configmaps`;
    let gone = false;
    const done = (err: unknown) => {
      if (this.stopped) return;
      if (gone) {
        // The resourceVersion fell out of the API server's history: start over with a list.
        this.resourceVersion = '';
        this.retryLater(0);
      } else if (err) {
        this.report(`watch of ConfigMap ${this.name()} failed`, err);
        this.retryLater();
      } else {
        // A clean end (timeoutSeconds elapsed): the connection was healthy; resume at once
        // from the last resourceVersion.
        this.failures = 0;
        this.watch();
      }
    };
    const onEvent = (type: string, object: WatchObject) => {
      if (type === 'ERROR') {
        if (object.code === 410) gone = true;
        else
          this.onError(
            new Error(
              `watch of ConfigMap ${this.name()} returned an error: ${object.message ?? 'unknown'}`,
            ),
          );
        return;
      }
      const rv = object.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      // Events flowing means the connection is healthy again.
      this.failures = 0;
      if (type === 'ADDED' || type === 'MODIFIED') this.load(object);
      else if (type === 'DELETED') {
        this.lastText = undefined;
        this.onError(
          new Error(`ConfigMap ${this.name()} was deleted; keeping the last route table`),
        );
      }
    };
    watcher
      .watch(
        path,
        {
          fieldSelector: `metadata.name=${this.options.name}`,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.watchTimeoutSeconds,
        },
        onEvent,
        done,
      )
      .then(
        (controller) => {
          if (this.stopped) controller.abort();
          else this.abort = controller;
        },
        // Raised before the request is sent (e.g. credentials could not be loaded).
        (error: unknown) => {
          done(error ?? new Error('watch could not start'));
        },
      );
  }

  private retryLater(delayMs?: number): void {
    if (this.stopped) return;
    this.failures += 1;
    const cap = Math.min(
      this.maxBackoffMs,
      this.initialBackoffMs * 2 ** Math.min(this.failures - 1, 20),
    );
    // Full jitter spreads the retries of many gateways after an API server restart.
    const delay = delayMs ?? Math.round(cap / 2 + (this.random() * cap) / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      if (this.resourceVersion === '') {
        void this.list().then((ok) => {
          if (ok) this.watch();
          else this.retryLater();
        });
      } else {
        this.watch();
      }
    }, delay);
  }

  private load(configMap: Pick<V1ConfigMap, 'data'>): void {
    const text = configMap.data?.[ROUTE_TABLE_KEY];
    if (text === undefined) {
      this.onError(
        new Error(
          `ConfigMap ${this.name()} has no ${ROUTE_TABLE_KEY} key; keeping the last route table`,
        ),
      );
      return;
    }
    // Label or annotation edits also produce events: only the table counts.
    if (text === this.lastText) return;
    let table: RouteTable;
    try {
      table = parseRouteTable(text);
    } catch (error) {
      this.report(
        `ConfigMap ${this.name()} holds an invalid route table; keeping the last good one`,
        error,
      );
      return;
    }
    this.lastText = text;
    this.onConfig(table);
  }

  private report(context: string, error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    const code =
      (error as { code?: unknown; statusCode?: unknown }).code ??
      (error as { statusCode?: unknown }).statusCode;
    const detail = typeof code === 'number' ? `HTTP ${code}` : cause.message.split('\n')[0];
    this.onError(new Error(`${context}: ${detail}`, { cause }));
  }

  private name(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }
}
