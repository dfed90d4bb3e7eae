// ApiRoute status, computed purely from what one reconcile found. The status writer sends
// the result as a merge patch to the status subresource, and only when it differs from the
// current status, so a reconcile that changes nothing writes nothing.
//
// client-node declares its models as classes without behaviour; the API takes plain JSON.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import type { V1Deployment } from '@kubernetes/client-node';
import {
  formatErrors,
  type ApiRouteStatus,
  type Condition,
  type FieldError,
  type RouteMigrationStatus,
  type RouteTable,
} from '../api/index.js';
import { describeProtoFailures, type ProtoFailure } from './grpc-proto.js';
import type { RouteShadowStatus } from './shadow-status.js';

export const CONDITION_TYPES = [
  'Accepted',
  'Ready',
  'Progressing',
  'Degraded',
  'Migrating',
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];
export type ConditionStatus = Condition['status'];

/** What a reconcile found, in the order it can go wrong. */
export type Observation =
  | { kind: 'invalid'; errors: readonly FieldError[] }
  /** Secrets the ApiRoute names (auth.apiKey.secretRef) that do not exist. */
  | { kind: 'missing-secrets'; namespace: string; names: readonly string[] }
  /** Protos of gRPC routes (spec.routes[].grpc.proto) missing or unfit for their method. */
  | { kind: 'proto-failed'; failures: readonly ProtoFailure[] }
  | { kind: 'conflict'; message: string }
  | { kind: 'failed'; message: string }
  | {
      kind: 'applied';
      gatewayService: string;
      configHash: string;
      table: RouteTable;
      /** Where unmatched traffic goes, for `kubectl get`: service:port or the URL. */
      monolith: string;
      /** The Deployment as the API server returned it from the apply (with its status). */
      deployment: V1Deployment;
      /** Route name → migration state, for the routes with a migration. */
      migrations?: ReadonlyMap<string, RouteMigrationStatus>;
      /** Shadow comparisons per route name, as last read from Prometheus; absent: none. */
      shadow?: ReadonlyMap<string, RouteShadowStatus> | undefined;
    };

/** The parts of an ApiRoute status computation reads. */
export interface StatusSubject {
  metadata: { generation?: number };
  status?: ApiRouteStatus | undefined;
}

interface DesiredCondition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Messages are user-facing and stored in etcd: keep them bounded. */
const MAX_MESSAGE = 2048;

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 1)}…`;
}

export interface Rollout {
  desired: number;
  updated: number;
  ready: number;
  available: number;
  /** The Deployment controller has seen the latest spec. */
  observed: boolean;
  complete: boolean;
  /** The controller gave up (ProgressDeadlineExceeded) or cannot create pods. */
  stuck: string | undefined;
}

/** Reads a Deployment's rollout state the way `kubectl rollout status` does. */
export function rollout(deployment: V1Deployment): Rollout {
  const desired = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const observed = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const total = status.replicas ?? 0;
  const conditions = status.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const failure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  const stuck =
    progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded'
      ? `rollout exceeded its progress deadline: ${progressing.message ?? ''}`
      : failure
        ? `cannot create gateway pods: ${failure.message ?? failure.reason ?? ''}`
        : undefined;
  return {
    desired,
    updated,
    ready: status.readyReplicas ?? 0,
    available,
    observed,
    // Old pods gone (total == desired) and every pod updated and available.
    complete: observed && updated >= desired && total <= desired && available >= desired,
    stuck,
  };
}

/** A migration's need for attention, least first; the condition reports the greatest. */
function concern(state: RouteMigrationStatus): { rank: number; reason: string; ok: boolean } {
  switch (state.phase) {
    case 'Promoted':
      return { rank: 0, reason: 'Promoted', ok: false };
    case 'Progressing':
      return { rank: 1, reason: 'Progressing', ok: true };
    case 'WaitingForTraffic':
      return { rank: 2, reason: 'WaitingForTraffic', ok: true };
    case 'Pending':
      return { rank: 3, reason: 'Pending', ok: true };
    case 'Paused':
      return state.pausedBy === 'user'
        ? { rank: 4, reason: 'PausedByUser', ok: false }
        : state.pausedBy === 'observations'
          ? { rank: 5, reason: 'ObservationsUnavailable', ok: false }
          : { rank: 6, reason: 'PausedOnFailure', ok: false };
    case 'RolledBack':
      return { rank: 7, reason: 'RolledBack', ok: false };
  }
}

/**
 * The Migrating condition: True while the autopilot moves traffic (Pending, Progressing,
 * WaitingForTraffic), False when it stopped (promoted, paused, rolled back), with the
 * reason of the route that needs attention most and every route's message.
 */
export function migratingCondition(
  migrations: ReadonlyMap<string, RouteMigrationStatus>,
): DesiredCondition | undefined {
  let worst: ReturnType<typeof concern> | undefined;
  const messages: string[] = [];
  for (const [route, state] of migrations) {
    const c = concern(state);
    if (worst === undefined || c.rank > worst.rank) worst = c;
    messages.push(`${route}: ${state.message}`);
  }
  if (worst === undefined) return undefined;
  return {
    type: 'Migrating',
    status: worst.ok ? 'True' : 'False',
    reason: worst.reason,
    message: truncate(messages.join('; ')),
  };
}

function desiredConditions(
  observation: Observation,
  previousHash: string | undefined,
): DesiredCondition[] {
  const c = (
    type: ConditionType,
    status: ConditionStatus,
    reason: string,
    message: string,
  ): DesiredCondition => ({
    type,
    status,
    reason,
    message: truncate(message),
  });
  const lastGood = previousHash
    ? `the gateway keeps serving its last good route table (config hash ${previousHash})`
    : 'no route table has been served yet';
  switch (observation.kind) {
    case 'invalid': {
      const errors = formatErrors(observation.errors, '; ');
      return [
        c('Accepted', 'False', 'Invalid', errors),
        c('Ready', 'False', 'Invalid', `the current spec is invalid; ${lastGood}`),
        c('Progressing', 'False', 'Invalid', 'nothing is rolled out until the spec is fixed'),
        c(
          'Degraded',
          'False',
          'Invalid',
          `invalid input does not affect the running gateway; ${lastGood}`,
        ),
      ];
    }
    case 'missing-secrets': {
      const list = observation.names.map((n) => `${observation.namespace}/${n}`).join(', ');
      const message = `${observation.names.length === 1 ? 'Secret' : 'Secrets'} ${list} not found: create ${observation.names.length === 1 ? 'it' : 'them'}, with the API keys (data: consumer name → key) that auth.apiKey.secretRef names or the JWKS (under its key) that auth.jwt.jwksSecretRef names`;
      return [
        c('Accepted', 'False', 'SecretNotFound', message),
        c('Ready', 'False', 'SecretNotFound', `waiting for ${list}; ${lastGood}`),
        c(
          'Progressing',
          'False',
          'SecretNotFound',
          'nothing is rolled out until the Secret exists',
        ),
        c(
          'Degraded',
          'False',
          'SecretNotFound',
          `the running gateway keeps its last good route table and API keys; ${lastGood}`,
        ),
      ];
    }
    case 'proto-failed': {
      const reason = observation.failures[0]?.reason ?? 'ProtoInvalid';
      return [
        c('Accepted', 'False', reason, describeProtoFailures(observation.failures)),
        c(
          'Ready',
          'False',
          reason,
          `waiting for a proto that serves every gRPC route; ${lastGood}`,
        ),
        c('Progressing', 'False', reason, 'nothing is rolled out until the proto is fixed'),
        c(
          'Degraded',
          'False',
          reason,
          `the running gateway keeps its last good route table; ${lastGood}`,
        ),
      ];
    }
    case 'conflict':
      return [
        c('Accepted', 'True', 'Accepted', 'the spec is valid'),
        c('Ready', 'False', 'Conflict', observation.message),
        c('Progressing', 'False', 'Conflict', 'blocked by an object the operator does not own'),
        c('Degraded', 'True', 'Conflict', observation.message),
      ];
    case 'failed':
      return [
        c('Accepted', 'True', 'Accepted', 'the spec is valid'),
        c('Ready', 'False', 'ReconcileFailed', `${observation.message}; retrying`),
        c('Progressing', 'False', 'ReconcileFailed', 'retrying with backoff'),
        c('Degraded', 'True', 'ReconcileFailed', observation.message),
      ];
    case 'applied': {
      const r = rollout(observation.deployment);
      const serving = `config hash ${observation.configHash} is in ConfigMap ${observation.gatewayService}`;
      const ready =
        r.desired === 0
          ? c(
              'Ready',
              'False',
              'ScaledToZero',
              'spec.gateway.replicas is 0: no gateway pod serves traffic',
            )
          : r.complete
            ? c(
                'Ready',
                'True',
                'Available',
                `${r.available}/${r.desired} gateway pods available; ${serving}`,
              )
            : c(
                'Ready',
                'False',
                'RollingOut',
                `${r.available}/${r.desired} gateway pods available, ${r.updated} updated; ${serving}`,
              );
      const progressing = r.complete
        ? c('Progressing', 'False', 'Complete', 'the gateway Deployment is fully rolled out')
        : c(
            'Progressing',
            'True',
            'RollingOut',
            `${r.updated}/${r.desired} gateway pods updated, ${r.available} available`,
          );
      const degraded = r.stuck
        ? c('Degraded', 'True', 'RolloutStuck', r.stuck)
        : c('Degraded', 'False', 'AsExpected', 'all owned objects are applied');
      const migrating = observation.migrations && migratingCondition(observation.migrations);
      return [
        c('Accepted', 'True', 'Accepted', 'the spec is valid'),
        ready,
        progressing,
        degraded,
        ...(migrating ? [migrating] : []),
      ];
    }
  }
}

/**
 * The status to write. Conditions keep their lastTransitionTime while their status stays
 * the same (metav1.Condition semantics); condition types set by others are kept as they are.
 */
export function computeStatus(
  subject: StatusSubject,
  observation: Observation,
  now: Date,
): ApiRouteStatus {
  const generation = subject.metadata.generation;
  const previous = subject.status ?? {};
  const previousConditions = previous.conditions ?? [];
  const timestamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ours = desiredConditions(observation, previous.gateway?.configHash).map((d): Condition => {
    const old = previousConditions.find((p) => p.type === d.type);
    return {
      type: d.type,
      status: d.status,
      ...(generation !== undefined && { observedGeneration: generation }),
      lastTransitionTime: old && old.status === d.status ? old.lastTransitionTime : timestamp,
      reason: d.reason,
      message: d.message,
    };
  });
  const foreign = previousConditions.filter(
    (p) => !(CONDITION_TYPES as readonly string[]).includes(p.type),
  );
  // Not applied: the migration did not move, so its condition stays as it was.
  const kept =
    observation.kind === 'applied' ? [] : previousConditions.filter((p) => p.type === 'Migrating');
  const status: ApiRouteStatus = {
    ...(generation !== undefined && { observedGeneration: generation }),
    conditions: [...ours, ...kept, ...foreign],
  };
  if (observation.kind === 'applied') {
    const routes = observation.table.routes.map((r) => {
      const migration = observation.migrations?.get(r.name);
      // Only routes that shadow now: counters of a shadow since removed say nothing.
      const shadow = r.shadow === undefined ? undefined : observation.shadow?.get(r.name);
      return {
        name: r.name,
        newServicePercent: r.newServicePercent,
        ...(migration !== undefined && { migration }),
        ...(shadow !== undefined && { shadow }),
      };
    });
    status.gateway = {
      service: observation.gatewayService,
      readyReplicas: observation.deployment.status?.readyReplicas ?? 0,
      configHash: observation.configHash,
    };
    status.routes = routes;
    status.routeCount = routes.length;
    status.monolith = observation.monolith;
    status.newServicePercent =
      routes.length === 0
        ? 0
        : Math.round(routes.reduce((sum, r) => sum + r.newServicePercent, 0) / routes.length);
  } else {
    // Not applied: what the gateway serves has not changed, so neither do these.
    if (previous.gateway) status.gateway = previous.gateway;
    if (previous.routes) status.routes = previous.routes;
    if (previous.newServicePercent !== undefined)
      status.newServicePercent = previous.newServicePercent;
    if (previous.routeCount !== undefined) status.routeCount = previous.routeCount;
    if (previous.monolith !== undefined) status.monolith = previous.monolith;
  }
  return status;
}

/** Key-order-insensitive deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** Whether writing `next` would change anything. */
export function statusChanged(current: ApiRouteStatus | undefined, next: ApiRouteStatus): boolean {
  return !jsonEqual(current ?? {}, next);
}

/**
 * Counts ApiRoutes by condition for the figway_operator_apiroutes gauge: the last status
 * this operator wrote for each ApiRoute, forgotten when the ApiRoute goes away.
 */
export class ConditionTracker {
  private readonly byKey = new Map<string, readonly Condition[]>();

  set(key: string, conditions: readonly Condition[]): void {
    this.byKey.set(key, conditions);
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }

  /** Every (condition, status) pair with its count; zero counts included so series reset. */
  counts(): { condition: ConditionType; status: ConditionStatus; count: number }[] {
    const out: { condition: ConditionType; status: ConditionStatus; count: number }[] = [];
    for (const condition of CONDITION_TYPES) {
      for (const status of ['True', 'False', 'Unknown'] as const) {
        let count = 0;
        for (const conditions of this.byKey.values()) {
          if (conditions.some((c) => c.type === condition && c.status === status)) count += 1;
        }
        out.push({ condition, status, count });
      }
    }
    return out;
  }
}
