// Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas
// exactly one reconciles. client-node has no helper; this follows client-go's
// leaderelection package (and kubenode's LeaseLock) in small:
// - A candidate takes the Lease when it does not exist, has no holder, or its holder has
//   not renewed it for leaseDuration — measured on OUR clock from when we last saw the
//   record change, so clock skew between nodes does not matter.
// - Every write is an optimistic-concurrency update (resourceVersion), so two candidates
//   can never both win the same round.
// - The leader renews every retryPeriod; if it cannot renew within renewDeadline it stops
//   leading at once. renewDeadline < leaseDuration, so it stops before anyone else may take
//   over, and isLeader() turns false by the clock even while a renew request hangs.
// - On shutdown the leader releases the Lease (empty holder) so a successor starts now.
//
// client-node declares its models as classes without behaviour; the API takes plain JSON.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import {
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import { apiStatusCode, describeApiError } from '../common/api-error.js';

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Epoch milliseconds. */
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
  /** Set on records read from the API; required by update. */
  resourceVersion?: string;
}

/** The three calls leader election makes; the Kubernetes implementation is KubeLeaseClient. */
export interface LeaseClient {
  readonly description: string;
  /** undefined when the Lease does not exist. */
  get(): Promise<LeaseRecord | undefined>;
  /** Fails when the Lease already exists. */
  create(record: LeaseRecord): Promise<LeaseRecord>;
  /** Fails when the resourceVersion is stale (someone else wrote first). */
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface Clock {
  now(): number;
  /** Resolves after ms, or early when the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

export interface LeaderElectorOptions {
  identity: string;
  lease: LeaseClient;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  clock?: Clock;
  /** Called when this replica becomes leader. */
  onStartedLeading(): void;
  /** Called at once when this replica stops leading (lost, or released on stop). */
  onStoppedLeading(): void;
  /** The holder changed (anyone, including this replica); for logs. */
  onNewLeader?(identity: string): void;
  onError?(error: Error): void;
  random?: () => number;
}

export class LeaderElector {
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private leading = false;
  /** Our clock when we last renewed successfully. */
  private lastRenew = 0;
  private observed: LeaseRecord | undefined;
  private observedAt = 0;
  private loop: Promise<void> | undefined;
  private lastLeader: string | undefined;
  /** The last error reported, and when: a failure that repeats each retry is reported once a minute. */
  private lastError: { message: string; at: number } | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    if (!(
      options.retryPeriodMs < options.renewDeadlineMs &&
      options.renewDeadlineMs < options.leaseDurationMs
    )) {
      throw new Error(
        `leader election needs retryPeriod < renewDeadline < leaseDuration, got ${options.retryPeriodMs}ms, ${options.renewDeadlineMs}ms, ${options.leaseDurationMs}ms`,
      );
    }
    this.clock = options.clock ?? systemClock;
  }

  /**
   * True only while this replica holds a Lease renewed less than renewDeadline ago. The
   * clock check makes this false at the deadline even if the renew loop is stuck in a
   * request, which is what fences writes of a leader that lost its connection.
   */
  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenew < this.options.renewDeadlineMs;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader stops leading and releases the Lease. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leading) {
      this.stopLeading();
      await this.release();
    }
  }

  private stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (!this.leading) {
        if (await this.tryAcquireOrRenew()) {
          this.leading = true;
          this.lastRenew = this.clock.now();
          this.options.onStartedLeading();
          continue;
        }
        await this.clock.sleep(this.jittered(this.options.retryPeriodMs), signal);
        continue;
      }
      await this.clock.sleep(this.options.retryPeriodMs, signal);
      if (this.stopping()) break;
      if (!(await this.renew(signal)) && !this.stopping()) this.stopLeading();
    }
  }

  /** Tries to renew until renewDeadline after the last success; false when it could not. */
  private async renew(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted && this.clock.now() - this.lastRenew < this.options.renewDeadlineMs) {
      if (await this.withinDeadline(this.tryAcquireOrRenew(), signal)) {
        this.lastRenew = this.clock.now();
        return true;
      }
      // A lost Lease (someone else holds it) is final; a failed request is retried.
      if (
        this.observed &&
        this.observed.holderIdentity !== this.options.identity &&
        this.observed.holderIdentity !== ''
      ) {
        return false;
      }
      await this.clock.sleep(Math.min(this.options.retryPeriodMs, this.remaining()), signal);
    }
    return signal.aborted;
  }

  /**
   * A renew request that hangs past the deadline counts as failed, so a leader cut off from
   * the API server stops leading on time instead of whenever its request gives up.
   */
  private async withinDeadline(attempt: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
    const timeout = new AbortController();
    const onAbort = () => {
      timeout.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        attempt,
        this.clock.sleep(this.remaining(), timeout.signal).then(() => false),
      ]);
    } finally {
      timeout.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  private remaining(): number {
    return Math.max(1, this.options.renewDeadlineMs - (this.clock.now() - this.lastRenew));
  }

  private stopLeading(): void {
    if (!this.leading) return;
    this.leading = false;
    this.options.onStoppedLeading();
  }

  private jittered(ms: number): number {
    // Up to 20% extra, so candidates that started together do not collide every round.
    return Math.round(ms * (1 + 0.2 * (this.options.random ?? Math.random)()));
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, lease } = this.options;
    const durationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    const now = this.clock.now();
    let current: LeaseRecord | undefined;
    try {
      current = await lease.get();
    } catch (error) {
      this.fail(`failed to read Lease ${lease.description}`, error);
      return false;
    }
    if (current === undefined) {
      try {
        this.see(
          await lease.create({
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          }),
          now,
        );
        return true;
      } catch (error) {
        this.fail(`failed to create Lease ${lease.description}`, error);
        return false;
      }
    }
    if (!this.observed || !sameRecord(this.observed, current)) this.see(current, now);
    const heldByOther = current.holderIdentity !== '' && current.holderIdentity !== identity;
    if (heldByOther && this.observedAt + current.leaseDurationSeconds * 1000 > now) return false;
    const mine = current.holderIdentity === identity;
    try {
      this.see(
        await lease.update({
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: mine ? current.acquireTime : now,
          renewTime: now,
          leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
          ...(current.resourceVersion !== undefined && {
            resourceVersion: current.resourceVersion,
          }),
        }),
        now,
      );
      return true;
    } catch (error) {
      this.fail(`failed to ${mine ? 'renew' : 'take'} Lease ${lease.description}`, error);
      return false;
    }
  }

  private see(record: LeaseRecord, now: number): void {
    // The API answered: a failure from now on is news again.
    this.lastError = undefined;
    this.observed = record;
    this.observedAt = now;
    if (record.holderIdentity !== this.lastLeader) {
      this.lastLeader = record.holderIdentity;
      if (record.holderIdentity !== '') this.options.onNewLeader?.(record.holderIdentity);
    }
  }

  private async release(): Promise<void> {
    const { lease, identity } = this.options;
    try {
      const current = await lease.get();
      if (!current || current.holderIdentity !== identity) return;
      const now = this.clock.now();
      await lease.update({
        ...current,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
      });
    } catch (error) {
      // The Lease then simply expires after leaseDuration.
      this.fail(`failed to release Lease ${lease.description}`, error);
    }
  }

  private fail(context: string, error: unknown): void {
    const message = `${context}: ${describeApiError(error)}`;
    const now = this.clock.now();
    const last = this.lastError;
    if (last?.message === message && now - last.at < REPEATED_ERROR_INTERVAL_MS) return;
    this.lastError = { message, at: now };
    this.options.onError?.(new Error(message, { cause: error }));
  }
}

/** How often a failure that repeats on every retry is reported again. */
export const REPEATED_ERROR_INTERVAL_MS = 60_000;

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions &&
    a.resourceVersion === b.resourceVersion
  );
}

function toMs(value: Date | string | undefined): number {
  if (value === undefined) return 0;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? 0 : ms;
}

/** The Lease through the API. Times are MicroTime on the wire: V1MicroTime keeps the format. */
export class KubeLeaseClient implements LeaseClient {
  readonly description: string;
  private readonly api: CoordinationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.description = `${namespace}/${name}`;
  }

  async get(): Promise<LeaseRecord | undefined> {
    try {
      return fromLease(
        await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }),
      );
    } catch (error) {
      if (apiStatusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    try {
      return fromLease(
        await this.api.createNamespacedLease({
          namespace: this.namespace,
          body: this.toLease(record),
        }),
      );
    } catch (error) {
      // A create answered 404 means the namespace is missing: the usual first run outside
      // a cluster (the chart creates it), so say how to fix it.
      if (apiStatusCode(error) === 404)
        throw new Error(missingNamespace(this.namespace), { cause: error });
      throw error;
    }
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    return fromLease(
      await this.api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: this.toLease(record),
      }),
    );
  }

  private toLease(record: LeaseRecord): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
      },
      spec: {
        // An empty holder is how a released Lease is written (as client-go does).
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: new V1MicroTime(record.acquireTime),
        renewTime: new V1MicroTime(record.renewTime),
        leaseTransitions: record.leaseTransitions,
      },
    };
  }
}

/** The one line a missing leader-election namespace gets. */
export function missingNamespace(namespace: string): string {
  return `namespace ${namespace} does not exist: create it (kubectl create namespace ${namespace}), choose another with --leader-election-namespace, or run a single replica with --leader-elect=false`;
}

function fromLease(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: toMs(spec.acquireTime),
    renewTime: toMs(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
    ...(lease.metadata?.resourceVersion !== undefined && {
      resourceVersion: lease.metadata.resourceVersion,
    }),
  };
}
