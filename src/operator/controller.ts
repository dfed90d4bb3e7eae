// The running operator: informers feed the work queue, the queue feeds reconcile, leader
// election decides whether the queue runs at all. Informer handlers only map an event to an
// ApiRoute key and enqueue it: an owned object's key comes from its figway.dev/apiroute label.
// Events that cannot change what a reconcile does are dropped (as controller-runtime's
// predicates do): an ApiRoute update that leaves its generation alone (our own status
// writes), the echo of the operator's own write to an owned object, and Deployment
// status changes that leave the rollout as status reports it.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type ApiRouteStatus } from '../api/index.js';
import { errorFields, type Logger } from '../common/logger.js';
import type { Readiness } from '../common/admin-server.js';
import { describeApiError } from '../common/api-error.js';
import type { RelistReason } from '../common/watch.js';
import { APIROUTE_LABEL, OWNED_KINDS } from './desired-state/index.js';
import { EventRecorder } from './events.js';
import { namesProtoConfigMap } from './grpc-proto.js';
import { ResilientInformer, type InformerEvent } from './informer.js';
import { KubeClusterWriter, RequestRateLimit, type ClusterWriter } from './kube.js';
import { KubeLeaseClient, LeaderElector, type LeaseClient } from './leader-election.js';
import { CONTROLLER, type OperatorMetrics } from './metrics.js';
import type { ObservationSource } from './migration/source.js';
import { TerminalError, WorkQueue } from './queue.js';
import { ConflictError, Reconciler, type ClusterCache, type RawApiRoute } from './reconciler.js';
import type { OperatorSettings } from './settings.js';
import { ShadowStatusPoller, type InstantQuery } from './shadow-status.js';
import { ConditionTracker, rollout } from './status.js';

export interface LeaderElectionSettings {
  enabled: boolean;
  namespace: string;
  /** Lease name. */
  name: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; undefined: all. */
  namespaces?: readonly string[];
  concurrency: number;
  settings: OperatorSettings;
  identity?: string;
  leaderElection: LeaderElectionSettings;
  resyncMs: number;
  /** Where status.routes[].shadow comes from; absent: no shadow status. */
  shadowStatus?: { prometheus: InstantQuery; intervalMs: number };
  logger: Logger;
  metrics: OperatorMetrics;
  /** Where migrations read their observations (--prometheus-url); none: they wait. */
  observations?: ObservationSource;
  /** Client-side limit on the operator's API requests (0 qps: none). */
  apiRateLimit?: { qps: number; burst: number };
  /** Test seams. */
  writer?: ClusterWriter;
  lease?: LeaseClient;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export function defaultIdentity(): string {
  // In a pod the hostname is the pod name, unique among replicas; the pid covers local runs.
  return `${hostname()}_${process.pid}`;
}

const APIROUTE_PATH = `/apis/${GROUP}/${VERSION}`;
/** How long status changes of an owned object gather before their ApiRoute is reconciled. */
const ROLLOUT_COALESCE_MS = 1000;

function objectKey(obj: KubernetesObject): string {
  return `${obj.kind ?? ''}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** An ApiRoute update worth a reconcile: spec (generation), labels, annotations, deletion. */
export function apiRouteChanged(previous: RawApiRoute, next: RawApiRoute): boolean {
  const a = previous.metadata;
  const b = next.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations)
  );
}

/**
 * An owned-object update worth a reconcile: anything but a Deployment or PDB status change
 * (those have a generation that counts their spec), and of a Deployment's status what
 * the ApiRoute's status reports of it (the rollout).
 */
export function ownedChanged(
  kind: string,
  previous: KubernetesObject,
  next: KubernetesObject,
): boolean {
  const a = previous.metadata;
  const b = next.metadata;
  if (a?.generation === undefined || a.generation !== b?.generation) return true;
  if (
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
    JSON.stringify(a.ownerReferences) !== JSON.stringify(b.ownerReferences)
  ) {
    return true;
  }
  if (kind !== 'Deployment') return false;
  // client-node's V1Deployment is a behaviourless class; the cache holds plain JSON.
  /* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
  return JSON.stringify(rollout(previous)) !== JSON.stringify(rollout(next));
  /* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment */
}

export class Operator {
  readonly identity: string;
  private readonly log: Logger;
  private readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly elector: LeaderElector | undefined;
  private readonly apiRouteInformers: ResilientInformer<RawApiRoute>[] = [];
  /** kind → informers (one per watched namespace, or one for all). */
  private readonly ownedInformers = new Map<string, ResilientInformer<KubernetesObject>[]>();
  /** Every ConfigMap (data dropped): a change re-reconciles the ApiRoutes whose grpc.proto names it. */
  private readonly protoInformers: ResilientInformer<KubernetesObject>[] = [];
  private readonly tracker = new ConditionTracker();
  private readonly events: EventRecorder;
  private readonly shadowPoller: ShadowStatusPoller | undefined;
  /** kind/namespace/name → resourceVersion of the operator's last write of an owned object. */
  private readonly ownWrites = new Map<string, string>();
  private leading = false;
  private stopping = false;

  constructor(private readonly options: OperatorOptions) {
    this.identity = options.identity ?? defaultIdentity();
    this.log = options.logger;
    const metrics = options.metrics;
    this.queue = new WorkQueue({
      concurrency: options.concurrency,
      ...(options.retryBaseMs !== undefined && { baseDelayMs: options.retryBaseMs }),
      ...(options.retryMaxMs !== undefined && { maxDelayMs: options.retryMaxMs }),
      hooks: metrics.queueHooks(),
    });
    metrics.maxConcurrentReconciles.set({ controller: CONTROLLER }, options.concurrency);
    const limit = options.apiRateLimit;
    const writer =
      options.writer ??
      new KubeClusterWriter(
        options.kubeConfig,
        limit && new RequestRateLimit(limit.qps, limit.burst),
      );
    this.events = new EventRecorder(writer, {
      instance: this.identity,
      onError: (error) => {
        this.log.warn('failed to post an Event', errorFields(error));
      },
    });
    const shadow = options.shadowStatus;
    this.shadowPoller =
      shadow === undefined
        ? undefined
        : new ShadowStatusPoller(
            shadow.prometheus,
            shadow.intervalMs,
            (keys) => {
              for (const key of keys) this.queue.add(key);
            },
            this.log,
          );
    const poller = this.shadowPoller;
    this.reconciler = new Reconciler({
      cache: this.cache(),
      writer,
      events: this.events,
      settings: options.settings,
      isLeader: () => this.isLeader(),
      logger: this.log,
      onStatus: (key, status) => {
        this.recordStatus(key, status);
      },
      ...(poller !== undefined && { shadowStatus: (key: string) => poller.statusesOf(key) }),
      ...(options.observations !== undefined && { observations: options.observations }),
      requeueAfter: (key, delayMs) => {
        this.queue.addAfter(key, delayMs);
      },
      onWritten: (obj) => {
        const rv = obj.metadata?.resourceVersion;
        if (rv !== undefined) this.ownWrites.set(objectKey(obj), rv);
      },
    });
    const le = options.leaderElection;
    if (le.enabled) {
      this.elector = new LeaderElector({
        identity: this.identity,
        lease: options.lease ?? new KubeLeaseClient(options.kubeConfig, le.namespace, le.name),
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        onStartedLeading: () => {
          this.startLeading();
        },
        onStoppedLeading: () => {
          this.stopLeading();
        },
        onNewLeader: (identity) => {
          this.log.info('leader elected', {
            leader: identity,
            lease: `${le.namespace}/${le.name}`,
            self: identity === this.identity,
          });
        },
        onError: (error) => {
          this.log.warn('leader election', errorFields(error));
        },
      });
    }
    this.createInformers();
  }

  /** True while this replica may write: it holds the Lease (or leader election is off). */
  isLeader(): boolean {
    if (this.stopping) return false;
    return this.elector ? this.elector.isLeader() : this.leading;
  }

  /** Starts watching, waits for the caches to fill, then campaigns (or starts reconciling). */
  async start(): Promise<void> {
    for (const informer of this.allInformers()) informer.start();
    await Promise.all(this.allInformers().map((i) => i.synced));
    this.log.info('informer caches synced', { informers: this.allInformers().length });
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  /** SIGTERM: stop taking work, let running reconciles finish, release the Lease, stop watching. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.log.info('stopping: finishing in-flight reconciles', { inFlight: this.queue.active });
    await this.shadowPoller?.stop();
    await this.queue.shutdown();
    this.stopping = true;
    await this.elector?.stop();
    this.leading = false;
    this.options.metrics.leader.set(0);
    await Promise.all(this.allInformers().map((i) => i.stop()));
    this.log.info('stopped');
  }

  readiness(): Readiness {
    const unsynced = this.allInformers()
      .filter((i) => !i.isSynced)
      .map((i) => i.kind);
    return {
      ready: unsynced.length === 0 && !this.stopping,
      details: {
        leader: this.isLeader(),
        identity: this.identity,
        ...(unsynced.length > 0 && { waitingFor: [...new Set(unsynced)] }),
      },
    };
  }

  private startLeading(): void {
    if (this.stopping) return;
    this.leading = true;
    this.options.metrics.leader.set(1);
    this.log.info('started leading: reconciling', { identity: this.identity });
    this.reconciler.forgetWrites();
    this.queue.start((key) => this.process(key));
    this.shadowPoller?.start();
    // Anything that changed while we were not leading is in the caches: look at all of it.
    for (const informer of this.apiRouteInformers) informer.resync();
  }

  private stopLeading(): void {
    this.leading = false;
    this.options.metrics.leader.set(0);
    // The new leader exports them; stale copies here would double (or keep) an alert.
    this.options.metrics.forgetMigrations();
    this.queue.pause();
    void this.shadowPoller?.stop();
    if (!this.stopping)
      this.log.warn('stopped leading: reconciling paused', { identity: this.identity });
  }

  private async process(key: string): Promise<void> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      await this.reconciler.reconcile(key);
      this.options.metrics.reconciled('success', seconds());
    } catch (error) {
      const result =
        error instanceof TerminalError
          ? 'terminal'
          : error instanceof ConflictError
            ? 'conflict'
            : 'error';
      this.options.metrics.reconciled(result, seconds());
      if (result === 'error')
        this.log.warn('reconcile failed; will retry', { apiroute: key, ...errorFields(error) });
      throw error;
    }
  }

  private recordStatus(key: string, status: ApiRouteStatus | undefined): void {
    if (status?.conditions) this.tracker.set(key, status.conditions);
    else this.tracker.delete(key);
    for (const { condition, status: s, count } of this.tracker.counts()) {
      this.options.metrics.apiRoutes.set({ condition, status: s }, count);
    }
    this.options.metrics.recordMigrations(key, status);
  }

  private enqueue(namespace: string | undefined, name: string | undefined): void {
    if (namespace && name) this.queue.add(`${namespace}/${name}`);
  }

  private createInformers(): void {
    const kc = this.options.kubeConfig;
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const scopes: (string | undefined)[] = this.options.namespaces?.length
      ? [...this.options.namespaces]
      : [undefined];
    const restartHandler = (kind: string) => (error: unknown, delayMs: number) => {
      this.options.metrics.informerRestarts.inc({ kind });
      this.log.warn('informer failed; restarting', {
        kind,
        delayMs,
        error: describeApiError(error),
      });
    };
    const relistHandler = (kind: string) => (reason: RelistReason) => {
      if (reason === 'expired') {
        this.log.debug('informer relisting: its resourceVersion expired (410 Gone)', { kind });
        return;
      }
      // A watch that delivers nothing, not even bookmarks, has failed as surely as one that broke.
      this.options.metrics.informerRestarts.inc({ kind });
      this.log.warn('informer watch silent, not even a bookmark; relisting', { kind });
    };
    const handlerError = (error: unknown) => {
      this.log.error('informer handler failed', errorFields(error));
    };
    for (const namespace of scopes) {
      this.apiRouteInformers.push(
        new ResilientInformer<RawApiRoute>({
          kind: KIND,
          kubeConfig: kc,
          path: namespace
            ? `${APIROUTE_PATH}/namespaces/${namespace}/${PLURAL}`
            : `${APIROUTE_PATH}/${PLURAL}`,
          list: () => objects.list<RawApiRoute>(API_VERSION, KIND, namespace),
          resyncMs: this.options.resyncMs,
          onEvent: (event: InformerEvent, obj, previous) => {
            if (event === 'delete' && obj.metadata.uid) this.events.forget(obj.metadata.uid);
            if (event === 'update' && previous && !apiRouteChanged(previous, obj)) return;
            this.enqueue(obj.metadata.namespace, obj.metadata.name);
          },
          onRestart: restartHandler(KIND),
          onRelist: relistHandler(KIND),
          onHandlerError: handlerError,
        }),
      );
      this.protoInformers.push(
        new ResilientInformer<KubernetesObject>({
          kind: 'ConfigMap (grpc.proto)',
          kubeConfig: kc,
          path: namespace ? `/api/v1/namespaces/${namespace}/configmaps` : '/api/v1/configmaps',
          list: () => objects.list('v1', 'ConfigMap', namespace),
          // Only names matter here: the reconcile reads the proto itself, at its own time.
          slim: (obj) => ({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata }),
          onEvent: (_event, obj) => {
            this.enqueueNamingProto(obj.metadata?.namespace, obj.metadata?.name);
          },
          onRestart: restartHandler('ConfigMap'),
          onRelist: relistHandler('ConfigMap'),
          onHandlerError: handlerError,
        }),
      );
      for (const kind of OWNED_KINDS) {
        const informer = new ResilientInformer<KubernetesObject>({
          kind: kind.kind,
          kubeConfig: kc,
          path: namespace ? kind.path(namespace) : kind.clusterPath,
          labelSelector: APIROUTE_LABEL,
          list: ({ labelSelector }) =>
            objects.list(
              kind.apiVersion,
              kind.kind,
              namespace,
              undefined,
              undefined,
              undefined,
              undefined,
              labelSelector,
            ),
          onEvent: (event, obj, previous) => {
            // Drift, deletion or a status change of an owned object: reconcile its ApiRoute.
            const key = objectKey({ ...obj, kind: kind.kind });
            if (event === 'delete') this.ownWrites.delete(key);
            else if (
              event !== 'resync' &&
              this.ownWrites.get(key) === obj.metadata?.resourceVersion
            ) {
              return; // the echo of our own create or apply
            } else if (event === 'update' && previous && !ownedChanged(kind.kind, previous, obj))
              return;
            const namespace = obj.metadata?.namespace;
            const name = obj.metadata?.labels?.[APIROUTE_LABEL];
            if (!namespace || !name) return;
            // A rollout moves a Deployment's status several times a second: one reconcile
            // a moment later reports where it got to (a spec edit reconciles at once).
            const statusOnly =
              kind.kind === 'Deployment' &&
              event === 'update' &&
              previous?.metadata?.generation === obj.metadata?.generation;
            if (statusOnly) {
              this.queue.addAfter(`${namespace}/${name}`, ROLLOUT_COALESCE_MS);
            } else this.queue.add(`${namespace}/${name}`);
          },
          onRestart: restartHandler(kind.kind),
          onRelist: relistHandler(kind.kind),
          onHandlerError: handlerError,
        });
        const list = this.ownedInformers.get(kind.kind) ?? [];
        list.push(informer);
        this.ownedInformers.set(kind.kind, list);
      }
    }
  }

  private allInformers(): ResilientInformer<KubernetesObject>[] {
    return [
      ...(this.apiRouteInformers as ResilientInformer<KubernetesObject>[]),
      ...[...this.ownedInformers.values()].flat(),
      ...this.protoInformers,
    ];
  }

  /** Enqueues the cached ApiRoutes of a namespace whose gRPC routes name this ConfigMap. */
  private enqueueNamingProto(namespace: string | undefined, name: string | undefined): void {
    if (!namespace || !name) return;
    for (const informer of this.apiRouteInformers) {
      for (const apiRoute of informer.list(namespace)) {
        if (namesProtoConfigMap(apiRoute.spec, name))
          this.enqueue(namespace, apiRoute.metadata.name);
      }
    }
  }

  private cache(): ClusterCache {
    const scoped = <T extends KubernetesObject>(
      informers: readonly ResilientInformer<T>[],
      namespace: string,
    ) =>
      informers.length === 1
        ? informers
        : informers.filter((_i, index) => this.options.namespaces?.[index] === namespace);
    return {
      getApiRoute: (namespace, name) => {
        for (const informer of scoped(this.apiRouteInformers, namespace)) {
          const found = informer.get(name, namespace);
          if (found) return found;
        }
        return undefined;
      },
      getOwned: (kind, namespace, name) => {
        for (const informer of scoped(this.ownedInformers.get(kind) ?? [], namespace)) {
          const found = informer.get(name, namespace);
          if (found) return found;
        }
        return undefined;
      },
      listOwned: (kind, namespace) =>
        scoped(this.ownedInformers.get(kind) ?? [], namespace).flatMap((i) => i.list(namespace)),
    };
  }
}
