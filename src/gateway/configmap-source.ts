// The gateway's config source in a cluster: its route-table ConfigMap, watched through the
// Kubernetes API. A mounted ConfigMap volume would be simpler, but the kubelet syncs volumes
// only every minute or so; a watch delivers an ApiRoute edit in milliseconds, without a
// restart. The watch is the resilient one of common/watch.ts (resume from the last
// resourceVersion with backoff, 410 Gone relists, a watchdog for a silent watch). Only ONE
// ConfigMap is ever read (fieldSelector metadata.name), so the gateway's Role can be limited
// to that name.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { BackoffPolicy } from '../common/backoff.js';
import { loadKubeConfig } from '../common/kube-config.js';
import {
  ResilientWatch,
  WatchRequestError,
  type WatchEvent,
  type WatchFailure,
} from '../common/watch.js';
import { parseRouteTable, ROUTE_TABLE_KEY, type RouteTable } from '../api/index.js';
import type { ConfigSource } from './config-source.js';

export interface ConfigMapConfigSourceOptions {
  namespace: string;
  name: string;
  /** Defaults to in-cluster config, or $KUBECONFIG / ~/.kube/config outside a cluster. */
  kubeConfig?: KubeConfig;
  /** Retries of a failed list or watch; default 0.2 s doubling to 10 s. */
  backoff?: BackoffPolicy;
  /** The API server ends each watch after this long and the source resumes it (common/watch.ts default). */
  watchTimeoutSeconds?: number;
  /** Relist after this long without an event or a bookmark (common/watch.ts default). */
  silenceLimitMs?: number;
  random?: () => number;
}

/** Quicker than the operator's: a gateway without its table serves nothing but the monolith. */
const GATEWAY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

export class ConfigMapConfigSource implements ConfigSource {
  readonly description: string;
  private readonly watch: ResilientWatch<V1ConfigMap>;
  private readonly qualifiedName: string;
  private lastText: string | undefined;
  private onConfig: (table: RouteTable) => void = () => undefined;
  private onError: (err: Error) => void = () => undefined;
  /** Resolves start(): the first list has been tried, successfully or not. */
  private firstListTried: () => void = () => undefined;

  constructor(private readonly options: ConfigMapConfigSourceOptions) {
    const kc = options.kubeConfig ?? loadKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    this.qualifiedName = `${options.namespace}/${options.name}`;
    this.description = `configmap:${this.qualifiedName}`;
    this.watch = new ResilientWatch<V1ConfigMap>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/configmaps`,
      fieldSelector: `metadata.name=${options.name}`,
      list: ({ fieldSelector }) =>
        core.listNamespacedConfigMap({ namespace: options.namespace, fieldSelector }),
      onEvent: (event, configMap) => {
        this.handle(event, configMap);
      },
      onFailure: (failure) => {
        this.failed(failure);
      },
      onRelist: (reason) => {
        // An expired resourceVersion is routine; a silent watch is worth a line in the log.
        if (reason === 'silent') {
          this.onError(
            new Error(
              `watch of ConfigMap ${this.qualifiedName} delivered nothing, not even a bookmark, for ${this.watch.silenceLimitMs / 1000} s; relisting`,
            ),
          );
        }
      },
      onHandlerError: (error) => {
        this.report(`loading ConfigMap ${this.qualifiedName} failed`, error);
      },
      backoff: options.backoff ?? GATEWAY_BACKOFF,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      silenceLimitMs: options.silenceLimitMs,
      random: options.random,
    });
    void this.watch.synced.then(() => {
      if (!this.watch.get(options.name, options.namespace)) {
        this.onError(
          new Error(`ConfigMap ${this.qualifiedName} not found; keeping the last route table`),
        );
      }
      this.firstListTried();
    });
  }

  /** Resolves after the first list, whether or not it found a valid table; keeps watching. */
  async start(onConfig: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    this.onConfig = onConfig;
    this.onError = onError;
    const tried = new Promise<void>((resolve) => (this.firstListTried = resolve));
    this.watch.start();
    await tried;
  }

  async stop(): Promise<void> {
    await this.watch.stop();
  }

  private handle(event: WatchEvent, configMap: V1ConfigMap): void {
    if (event === 'delete') {
      this.lastText = undefined;
      this.onError(
        new Error(`ConfigMap ${this.qualifiedName} was deleted; keeping the last route table`),
      );
    } else {
      this.load(configMap);
    }
  }

  private failed({ phase, error }: WatchFailure): void {
    this.report(
      phase === 'list'
        ? `failed to list ConfigMap ${this.qualifiedName}`
        : `watch of ConfigMap ${this.qualifiedName} failed`,
      error,
    );
    if (phase === 'list') this.firstListTried();
  }

  private load(configMap: Pick<V1ConfigMap, 'data'>): void {
    const text = configMap.data?.[ROUTE_TABLE_KEY];
    if (text === undefined) {
      this.onError(
        new Error(
          `ConfigMap ${this.qualifiedName} has no ${ROUTE_TABLE_KEY} key; keeping the last route table`,
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
        `ConfigMap ${this.qualifiedName} holds an invalid route table; keeping the last good one`,
        error,
      );
      return;
    }
    this.lastText = text;
    this.onConfig(table);
  }

  private report(context: string, error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    // client-node's errors dump headers and body into the message: its status says enough.
    const code =
      error instanceof WatchRequestError ? undefined : (error as { code?: unknown }).code;
    const detail = typeof code === 'number' ? `HTTP ${code}` : cause.message.split('\n')[0];
    this.onError(new Error(`${context}: ${detail}`, { cause }));
  }
}
