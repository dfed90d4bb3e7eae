// reconcile(key): make the cluster match one ApiRoute. Decisions are pure (desiredState,
// computeStatus); this file does the I/O in a fixed order:
//   validate → (invalid: Accepted=False + Event, existing objects untouched, not retried)
//   → check ownership of every cached object → create those the cache does not hold and
//   server-side apply those that would change (the Deployment last: its pods need the
//   rest) → prune what is no longer wanted → write status if it changed → Events.
// Requests per new ApiRoute: one create per object, one status write, one Event. An
// object is applied only when its desired state differs from the fingerprint it carries
// (APPLIED_ANNOTATION) or the live object lost a desired field, so an unchanged ApiRoute,
// a resync and a restarted operator write nothing.
// Every write is fenced by isLeader(), so a replica that lost the Lease stops writing at
// once even in the middle of a reconcile.
import type { KubernetesObject, V1Deployment, V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from '../common/logger.js';
import { errorFields } from '../common/logger.js';
import {
  secretNames,
  DEFAULT_NAMESPACE,
  formatErrors,
  formatFieldError,
  validateApiRoute,
  type ApiRoute,
  type ApiRouteStatus,
  type FieldError,
  type GrpcDescriptor,
  type RouteTable,
} from '../api/index.js';
import {
  APIROUTE_LABEL,
  CONFIG_HASH_ANNOTATION,
  coversDesired,
  desiredFingerprint,
  desiredState,
  gatewayName,
  type DesiredState,
  operatorFieldErrors,
  OWNED_KINDS,
  REPLICAS_HANDOVER_MANAGER,
  replicasHandover,
} from './desired-state/index.js';
import { EVENT_REASONS, type EventRecorder } from './events.js';
import {
  checkProtos,
  describeProtoFailures,
  protoConfigMapNames,
  readProtoConfigMaps,
} from './grpc-proto.js';
import { advanceMigrations, storedState, type MigrationStep } from './migration/autopilot.js';
import { NoObservationSource, type ObservationSource } from './migration/source.js';
import type { MigrationState } from './migration/state-machine.js';
import { describeObject, type ClusterWriter } from './kube.js';
import { TerminalError } from './queue.js';
import type { OperatorSettings } from './settings.js';
import type { RouteShadowStatus } from './shadow-status.js';
import { computeStatus, statusChanged, type Observation } from './status.js';

/** An ApiRoute as it comes from the API server: unvalidated beyond the CRD schema. */
export interface RawApiRoute extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string };
  spec?: unknown;
  status?: ApiRouteStatus;
}

/** Read access to what the informers have cached. */
export interface ClusterCache {
  getApiRoute(namespace: string, name: string): RawApiRoute | undefined;
  /** An owned-kind object from the label-selected informer cache. */
  getOwned(kind: string, namespace: string, name: string): KubernetesObject | undefined;
  /** All cached objects of a kind in a namespace (all carry the figway.dev/apiroute label). */
  listOwned(kind: string, namespace: string): readonly KubernetesObject[];
}

/** An object we must write is owned by someone else; retried, since the owner may leave. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** This replica is not the leader (any more); the write was not made. */
export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`not the leader: did not ${what}`);
    this.name = 'NotLeaderError';
  }
}

export interface ReconcilerDeps {
  cache: ClusterCache;
  writer: ClusterWriter;
  events: EventRecorder;
  settings: OperatorSettings;
  isLeader(): boolean;
  logger: Logger;
  now?: () => Date;
  /** The status this operator last wrote for an ApiRoute (undefined: deleted). */
  onStatus?(key: string, status: ApiRouteStatus | undefined): void;
  /** The shadow comparisons of an ApiRoute's routes, as last read (status.routes[].shadow). */
  shadowStatus?(key: string): ReadonlyMap<string, RouteShadowStatus> | undefined;
  /** Where migrations read their observations (default: none, so every one waits). */
  observations?: ObservationSource;
  /** Reconcile `key` again after `delayMs`: a migration wants to be judged then. */
  requeueAfter?(key: string, delayMs: number): void;
  /** An owned object as this operator's write left it (so its watch event can be ignored). */
  onWritten?(obj: KubernetesObject): void;
}

/**
 * The fingerprint of the desired object last applied, carried on the object itself: it
 * survives restarts and leader changes (an in-memory record would not), and a
 * metadata-only cache holds it.
 */
export const APPLIED_ANNOTATION = 'figway.dev/applied-fingerprint';

// client-node's V1ObjectMeta is a behaviourless class; the API takes plain JSON.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread */
function withFingerprint(obj: KubernetesObject, fingerprint: string): KubernetesObject {
  const metadata = obj.metadata ?? {};
  return {
    ...obj,
    metadata: {
      ...metadata,
      annotations: { ...metadata.annotations, [APPLIED_ANNOTATION]: fingerprint },
    },
  };
}
/* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread */

/** The least delay of a migration requeue, so a check that is due never spins. */
const MIN_REQUEUE_MS = 1000;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function controllerUid(obj: KubernetesObject): string | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true)?.uid;
}

function describeController(obj: KubernetesObject): string {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true);
  return ref
    ? `controlled by ${ref.kind} ${ref.name} (uid ${ref.uid})`
    : 'not controlled by any object';
}

/** Validates everything but the status, which is ours to write and must never make a spec invalid. */
export function validateForReconcile(
  raw: RawApiRoute,
): { ok: true; value: ApiRoute } | { ok: false; errors: FieldError[] } {
  const withoutStatus: Partial<RawApiRoute> = { ...raw };
  delete withoutStatus.status;
  const result = validateApiRoute(withoutStatus);
  if (!result.ok) return result;
  const errors = operatorFieldErrors(result.value);
  return errors.length > 0 ? { ok: false, errors } : result;
}

/** The Monolith printer column: service:port, or the URL of a monolith outside the cluster. */
export function monolithColumn(apiRoute: ApiRoute): string {
  const m = apiRoute.spec.monolith;
  return m.url ?? `${m.service ?? ''}:${String(m.port ?? '')}`;
}

/** An owned object among one ApiRoute's objects (all in its namespace): kind/name. */
function ownedKey(obj: KubernetesObject): string {
  return `${obj.kind ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class Reconciler {
  private readonly now: () => Date;
  private readonly observations: ObservationSource;
  /**
   * Per ApiRoute key: the migration states this operator wrote to status, and the
   * resourceVersion of the ApiRoute they were computed from. A reconcile that still sees
   * that resourceVersion runs on a cache that has not caught up with the write, and
   * continues from these states instead, so no step is taken twice.
   */
  private readonly migrationWrites = new Map<
    string,
    { basedOn: string | undefined; states: ReadonlyMap<string, MigrationState> }
  >();

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.observations =
      deps.observations ??
      new NoObservationSource(
        'no observation source: start the operator with --prometheus-url (chart value prometheus.url)',
      );
  }

  /**
   * Forgets the migration states this replica wrote: called when it starts leading, since
   * another leader may have written others in between. (What was applied needs no
   * forgetting: each object carries the fingerprint of what was last applied to it.)
   */
  forgetWrites(): void {
    this.migrationWrites.clear();
  }

  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const raw = this.deps.cache.getApiRoute(namespace, name);
    if (!raw) {
      // Deleted: the garbage collector removes its objects through their ownerReferences.
      this.migrationWrites.delete(key);
      this.deps.onStatus?.(key, undefined);
      return;
    }
    if (raw.metadata.deletionTimestamp) return;
    const log = this.deps.logger.child({ apiroute: key, generation: raw.metadata.generation });
    const validated = validateForReconcile(raw);
    if (!validated.ok) {
      await this.reject(key, raw, validated.errors, log);
      throw new TerminalError(`invalid ApiRoute ${key}: ${formatErrors(validated.errors, '; ')}`);
    }
    const apiRoute = validated.value;
    const uid = raw.metadata.uid;
    if (uid === undefined) throw new Error(`ApiRoute ${key} has no uid`);
    const grpc = await this.grpcDescriptors(key, raw, namespace, apiRoute, log);
    const now = this.now();
    const migration = await this.advance(key, raw, apiRoute, now);
    const desired = desiredState(apiRoute, this.deps.settings, migration.weights, grpc);
    const missing = await this.missingSecrets(namespace, desired.config.table);
    if (missing.length > 0) {
      await this.waitForSecrets(key, raw, namespace, missing, log);
      // Retried with the queue's backoff: the operator does not watch Secrets (it may only
      // get them), so a retry is how it notices that one was created.
      throw new Error(
        `ApiRoute ${key} names missing Secrets ${missing.join(', ')}; retrying until they exist`,
      );
    }
    try {
      await this.apply(key, raw, apiRoute, desired, migration, now, uid, log);
    } catch (error) {
      if (error instanceof NotLeaderError) throw error;
      const conflict = error instanceof ConflictError;
      const message = error instanceof Error ? error.message : String(error);
      log.warn(
        conflict ? 'conflict with an object the operator does not own' : 'reconcile failed',
        errorFields(error),
      );
      try {
        await this.writeStatus(
          key,
          raw,
          conflict ? { kind: 'conflict', message } : { kind: 'failed', message },
          log,
        );
      } catch {
        // Logged by writeStatus; the original failure is what the retry must fix.
      }
      await this.deps.events.emit(
        raw,
        'Warning',
        conflict ? EVENT_REASONS.conflict : EVENT_REASONS.failed,
        message,
      );
      throw error;
    }
  }

  /** Invalid input: say so on the ApiRoute and leave every existing object as it is. */
  private async reject(
    key: string,
    raw: RawApiRoute,
    errors: readonly FieldError[],
    log: Logger,
  ): Promise<void> {
    log.warn('ApiRoute is invalid; its gateway keeps the last good route table', {
      errors: errors.map(formatFieldError),
    });
    await this.writeStatus(key, raw, { kind: 'invalid', errors }, log);
    await this.deps.events.emit(raw, 'Warning', EVENT_REASONS.invalid, formatErrors(errors, '; '));
  }

  /** The Secrets the ApiRoute takes API keys or JWKS from that do not exist (a get per Secret). */
  private async missingSecrets(namespace: string, table: RouteTable): Promise<string[]> {
    const names = secretNames(table);
    const found = await Promise.all(
      names.map((name) =>
        // client-node's V1ObjectMeta is a behaviourless class; the API takes plain JSON.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
        this.deps.writer.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace } }),
      ),
    );
    return names.filter((_name, index) => found[index] === undefined);
  }

  /** A Secret is missing: say so on the ApiRoute and leave every existing object as it is. */
  private async waitForSecrets(
    key: string,
    raw: RawApiRoute,
    namespace: string,
    names: readonly string[],
    log: Logger,
  ): Promise<void> {
    log.warn('ApiRoute names Secrets that do not exist; its gateway keeps the last good config', {
      secrets: names,
    });
    await this.writeStatus(key, raw, { kind: 'missing-secrets', namespace, names }, log);
    await this.deps.events.emit(
      raw,
      'Warning',
      EVENT_REASONS.secretNotFound,
      `Secret ${names.map((n) => `${namespace}/${n}`).join(', ')} not found; auth.apiKey needs it`,
    );
  }

  /**
   * The compiled protos of the gRPC routes, read from their ConfigMaps. One that is missing
   * or cannot serve its route is Accepted=False naming it, and ends the reconcile without a
   * retry: the ConfigMap watch (controller.ts) brings the ApiRoute back when it changes.
   */
  private async grpcDescriptors(
    key: string,
    raw: RawApiRoute,
    namespace: string,
    apiRoute: ApiRoute,
    log: Logger,
  ): Promise<ReadonlyMap<string, GrpcDescriptor> | undefined> {
    const names = protoConfigMapNames(apiRoute);
    if (names.length === 0) return undefined;
    const read = (obj: KubernetesObject) => this.deps.writer.read(obj);
    const check = checkProtos(
      apiRoute,
      namespace,
      await readProtoConfigMaps(read, namespace, names),
    );
    if (check.ok) return check.descriptors;
    const message = describeProtoFailures(check.failures);
    log.warn(
      'ApiRoute names a proto that cannot serve it; its gateway keeps the last good config',
      {
        failures: check.failures,
      },
    );
    await this.writeStatus(key, raw, { kind: 'proto-failed', failures: check.failures }, log);
    await this.deps.events.emit(
      raw,
      'Warning',
      check.failures[0]?.reason ?? 'ProtoInvalid',
      message,
    );
    throw new TerminalError(`ApiRoute ${key}: ${message}`);
  }

  /** The autopilot's next states of this ApiRoute's migrating routes, and their weights. */
  private async advance(
    key: string,
    raw: RawApiRoute,
    apiRoute: ApiRoute,
    now: Date,
  ): Promise<MigrationStep> {
    const written = this.migrationWrites.get(key);
    const lagging = written !== undefined && written.basedOn === raw.metadata.resourceVersion;
    return advanceMigrations(
      apiRoute,
      (route) =>
        (lagging ? written.states.get(route) : undefined) ?? storedState(raw.status, route),
      this.observations,
      now.getTime(),
    );
  }

  private async apply(
    key: string,
    raw: RawApiRoute,
    apiRoute: ApiRoute,
    { config, objects }: DesiredState,
    migration: MigrationStep,
    now: Date,
    uid: string,
    log: Logger,
  ): Promise<void> {
    // Check every cached object before writing any, so a conflict leaves the gateway as
    // it was; objects the cache does not hold are created, and a create that finds one
    // checks its ownership then (a new object changes nothing of a serving gateway).
    const current = await Promise.all(objects.map((obj) => this.current(obj, uid)));
    const existing = new Map<KubernetesObject, KubernetesObject | undefined>();
    objects.forEach((obj, index) => {
      const live = current[index];
      if (live) this.checkOwner(key, obj, live, uid);
      existing.set(obj, live);
    });
    const write = async (obj: KubernetesObject): Promise<KubernetesObject> => {
      const fingerprint = desiredFingerprint(obj);
      let live = existing.get(obj);
      if (live === undefined) {
        this.fence(`create ${describeObject(obj)}`);
        const created = await this.deps.writer.create(withFingerprint(obj, fingerprint));
        if (created) return this.written(created);
        // There after all (a cache behind, or someone else's): its owner decides.
        live = await this.deps.writer.read(obj);
        if (live) this.checkOwner(key, obj, live, uid);
      }
      // Listed objects (an informer's first fill) carry no apiVersion or kind: not compared.
      if (
        live?.metadata?.annotations?.[APPLIED_ANNOTATION] === fingerprint &&
        coversDesired(live, { ...obj, apiVersion: live.apiVersion, kind: live.kind })
      ) {
        return live;
      }
      this.fence(`apply ${describeObject(obj)}`);
      const dropsReplicas =
        obj.kind === 'Deployment' &&
        (obj as { spec?: { replicas?: number } }).spec?.replicas === undefined;
      if (live && dropsReplicas) await this.handOverReplicas(obj);
      return this.written(await this.deps.writer.apply(withFingerprint(obj, fingerprint)));
    };
    // Independent objects in parallel; the Deployment and what follows it once its pods'
    // ServiceAccount, permissions and route table exist.
    const split = objects.findIndex((obj) => obj.kind === 'Deployment');
    if (split < 0)
      throw new Error(`internal error: no Deployment among the desired objects of ${key}`);
    await Promise.all(objects.slice(0, split).map(write));
    const [deployment] = (await Promise.all(objects.slice(split).map(write))) as [
      V1Deployment,
      ...KubernetesObject[],
    ];
    const pruned = await this.prune(raw, objects, uid, log);

    const before = (kind: string) => [...existing].find(([o]) => o.kind === kind)?.[1];
    const oldHash = before('ConfigMap')?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    const gateway = gatewayName(apiRoute);
    await this.writeStatus(
      key,
      raw,
      {
        kind: 'applied',
        gatewayService: gateway,
        configHash: config.hash,
        table: config.table,
        deployment,
        monolith: monolithColumn(apiRoute),
        shadow: this.deps.shadowStatus?.(key),
        ...(migration.states.size > 0 && { migrations: migration.states }),
      },
      log,
    );
    if (migration.states.size > 0)
      this.migrationWrites.set(key, {
        basedOn: raw.metadata.resourceVersion,
        states: migration.states,
      });
    else this.migrationWrites.delete(key);
    if (!before('Deployment')) {
      log.info('gateway created', { configHash: config.hash });
      await this.deps.events.emit(
        raw,
        'Normal',
        EVENT_REASONS.created,
        `created gateway ${gateway} serving config hash ${config.hash}`,
      );
    } else if (oldHash !== config.hash) {
      log.info('route table updated', { from: oldHash, to: config.hash });
      await this.deps.events.emit(
        raw,
        'Normal',
        EVENT_REASONS.updated,
        `route table of gateway ${gateway} updated from config hash ${oldHash ?? 'none'} to ${config.hash} (generation ${String(raw.metadata.generation)}); no pod restart`,
      );
    }
    for (const obj of pruned) {
      await this.deps.events.emit(
        raw,
        'Normal',
        EVENT_REASONS.pruned,
        `deleted ${describeObject(obj)}: no longer needed`,
      );
    }
    // Only now that status holds the new states: an Event never announces a step that a
    // failed write would take again.
    for (const event of migration.events) {
      const message = `route ${event.route}: ${event.message}`;
      log.log(event.type === 'Warning' ? 'warn' : 'info', `migration: ${message}`, {
        route: event.route,
        reason: event.reason,
      });
      await this.deps.events.emit(raw, event.type, event.reason, message);
    }
    if (migration.wakeAt !== undefined) {
      this.deps.requeueAfter?.(key, Math.max(MIN_REQUEUE_MS, migration.wakeAt - now.getTime()));
    }
  }

  /**
   * Before a Deployment without replicas (autoscaling) is applied: if the operator still
   * owns the live replica count, another manager takes it over at its current value first
   * (replicasHandover). Read fresh: the cache drops managedFields. A conflict means someone
   * else (the HPA) already owns the field, which is the point.
   */
  private async handOverReplicas(deployment: KubernetesObject): Promise<void> {
    const handover = replicasHandover(await this.deps.writer.read(deployment));
    if (handover === undefined) return;
    try {
      await this.deps.writer.apply(handover, { fieldManager: REPLICAS_HANDOVER_MANAGER });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 409) throw error;
    }
  }

  /**
   * The live object for a desired one, as far as the caches know: the label-selected cache
   * answers for objects we created. One it holds that another owner controls is read from
   * the API (the cache may be behind); undefined means the object is to be created.
   */
  private async current(obj: KubernetesObject, uid: string): Promise<KubernetesObject | undefined> {
    const cached = this.deps.cache.getOwned(
      obj.kind ?? '',
      obj.metadata?.namespace ?? '',
      obj.metadata?.name ?? '',
    );
    if (cached === undefined || controllerUid(cached) === uid) return cached;
    return this.deps.writer.read(obj);
  }

  /** Refuses to write over an object this ApiRoute does not control. */
  private checkOwner(key: string, obj: KubernetesObject, live: KubernetesObject, uid: string) {
    if (controllerUid(live) === uid) return;
    throw new ConflictError(
      `${describeObject(obj)} already exists and is ${describeController(live)}, not by ApiRoute ${key}; the operator will not overwrite it: delete or rename it`,
    );
  }

  private written<T extends KubernetesObject>(obj: T): T {
    this.deps.onWritten?.(obj);
    return obj;
  }

  /** Deletes objects this ApiRoute controls that its desired state no longer has (e.g. the PDB at 1 replica). */
  private async prune(
    raw: RawApiRoute,
    desired: readonly KubernetesObject[],
    uid: string,
    log: Logger,
  ): Promise<KubernetesObject[]> {
    const wanted = new Set(desired.map(ownedKey));
    const namespace = raw.metadata.namespace ?? DEFAULT_NAMESPACE;
    const pruned: KubernetesObject[] = [];
    for (const kind of OWNED_KINDS) {
      for (const obj of this.deps.cache.listOwned(kind.kind, namespace)) {
        if (obj.metadata?.labels?.[APIROUTE_LABEL] !== raw.metadata.name) continue;
        if (controllerUid(obj) !== uid) continue;
        const target = { ...obj, apiVersion: kind.apiVersion, kind: kind.kind };
        if (wanted.has(ownedKey(target))) continue;
        this.fence(`delete ${describeObject(target)}`);
        await this.deps.writer.delete(target, obj.metadata.uid ?? '');
        log.info('pruned an object no longer desired', { object: describeObject(target) });
        pruned.push(target);
      }
    }
    return pruned;
  }

  private async writeStatus(
    key: string,
    raw: RawApiRoute,
    observation: Observation,
    log: Logger,
  ): Promise<void> {
    const status = computeStatus(raw, observation, this.now());
    if (statusChanged(raw.status, status)) {
      this.fence(`write status of ApiRoute ${key}`);
      const { namespace, name } = splitKey(key);
      try {
        await this.deps.writer.patchApiRouteStatus(namespace, name, status);
      } catch (error) {
        // The reconcile is retried; the status write with it.
        log.warn('status write failed', errorFields(error));
        throw error;
      }
    }
    this.deps.onStatus?.(key, status);
  }

  private fence(what: string): void {
    if (!this.deps.isLeader()) throw new NotLeaderError(what);
  }
}
