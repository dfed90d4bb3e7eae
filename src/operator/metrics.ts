// The operator's Prometheus metrics. Label values are bounded: results, condition types
// and statuses are fixed sets, kinds are the few the operator watches. ApiRoute and route
// names appear only on the migration series, one set per route with a migration, removed
// when the migration (or the ApiRoute) goes away.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MIGRATION_PHASES, type ApiRouteStatus } from '../api/index.js';
import type { QueueHooks } from './queue.js';
import { collectCleanDefaultMetrics, registerBuildInfo } from '../common/metrics.js';

type MigrationLabels = 'namespace' | 'apiroute' | 'route';

export const RECONCILE_RESULTS = ['success', 'error', 'terminal', 'conflict'] as const;
export type ReconcileMetricResult = (typeof RECONCILE_RESULTS)[number];

/** The controller and work queue label of the series controller-runtime also exports. */
export const CONTROLLER = 'apiroute';

/**
 * Where a metric means what controller-runtime's does, it has controller-runtime's name
 * and labels (controller_runtime_*, workqueue_*, rest_client_*), so stock operator
 * dashboards and alerts work; the rest is figway_operator_*.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Reconciles of ApiRoutes by result: success, error (retried), terminal (invalid input, not retried), conflict (an object is owned by someone else).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Reconciles that did not succeed (every result but success).',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Time one reconcile of an ApiRoute takes, API calls included.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly maxConcurrentReconciles = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'ApiRoutes reconciled in parallel at most (--concurrency).',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'workqueue_depth',
    help: 'ApiRoute keys waiting in the work queue (not counting those being reconciled).',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'workqueue_adds_total',
    help: 'ApiRoute keys put in the work queue (an add of a key already waiting is not counted).',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'Time an ApiRoute key waits in the work queue before its reconcile starts.',
    labelNames: ['name'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueWorkDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'Time the work queue spends on one key (its reconcile).',
    labelNames: ['name'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Keys put back in the work queue after a failed reconcile, to run again after a backoff.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly restClientRequests = new Counter({
    name: 'rest_client_requests_total',
    help: 'Kubernetes API requests by HTTP status code (<error> when no answer came), method and host.',
    labelNames: ['code', 'method', 'host'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'figway_operator_leader',
    help: '1 while this replica holds the leader Lease and reconciles, else 0.',
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'figway_operator_informer_restarts_total',
    help: 'Informer restarts after a failed list or watch, by watched kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly apiRoutes = new Gauge({
    name: 'figway_operator_apiroutes',
    help: 'ApiRoutes by status condition type (Accepted, Ready, Progressing, Degraded) and status (True, False, Unknown), as last written by this operator.',
    labelNames: ['condition', 'status'] as const,
    registers: [this.registry],
  });

  readonly migrationWeight = new Gauge<MigrationLabels>({
    name: 'figway_operator_migration_weight',
    help: "Effective new-service weight (percent) the migration autopilot gives a route: what its gateway's route table carries.",
    labelNames: ['namespace', 'apiroute', 'route'] as const,
    registers: [this.registry],
  });
  readonly migrationTargetWeight = new Gauge<MigrationLabels>({
    name: 'figway_operator_migration_target_weight',
    help: "The new-service weight a route's migration plan ends at (its last step).",
    labelNames: ['namespace', 'apiroute', 'route'] as const,
    registers: [this.registry],
  });
  readonly migrationPhase = new Gauge<MigrationLabels | 'phase'>({
    name: 'figway_operator_migration_phase',
    help: `1 for the phase a route's migration is in, 0 for the others: ${MIGRATION_PHASES.join(', ')}.`,
    labelNames: ['namespace', 'apiroute', 'route', 'phase'] as const,
    registers: [this.registry],
  });
  /** ApiRoute key → the routes it has migration series for. */
  private readonly migrating = new Map<string, Set<string>>();

  constructor(options: { processMetrics?: boolean } = {}) {
    this.leader.set(0);
    this.queueDepth.set({ name: CONTROLLER }, 0);
    for (const counter of [this.queueAdds, this.queueRetries]) counter.inc({ name: CONTROLLER }, 0);
    for (const result of RECONCILE_RESULTS)
      this.reconciles.inc({ controller: CONTROLLER, result }, 0);
    this.reconcileErrors.inc({ controller: CONTROLLER }, 0);
    registerBuildInfo(this.registry);
    // Clean: without prom-client's *_total gauges, which promtool rejects (prometheus/client_js#283).
    if (options.processMetrics ?? true)
      collectCleanDefaultMetrics(this.registry, 'figway_operator_');
  }

  /** Counts a finished reconcile (and a failed one as an error, as controller-runtime does). */
  reconciled(result: ReconcileMetricResult, seconds: number): void {
    this.reconciles.inc({ controller: CONTROLLER, result });
    if (result !== 'success') this.reconcileErrors.inc({ controller: CONTROLLER });
    this.reconcileDuration.observe({ controller: CONTROLLER }, seconds);
    this.queueWorkDuration.observe({ name: CONTROLLER }, seconds);
  }

  /** The work queue's hooks (queue.ts), recording the workqueue_* series. */
  queueHooks(): QueueHooks {
    const name = CONTROLLER;
    return {
      depth: (depth) => {
        this.queueDepth.set({ name }, depth);
      },
      added: () => {
        this.queueAdds.inc({ name });
      },
      latency: (seconds) => {
        this.queueLatency.observe({ name }, seconds);
      },
      done: (_key, _outcome, _error, retryInMs) => {
        if (retryInMs !== undefined) this.queueRetries.inc({ name });
      },
    };
  }

  /** Counts one Kubernetes API request (kube-config.ts's observer). */
  restRequest(method: string, host: string, code: number | undefined): void {
    this.restClientRequests.inc({
      method,
      host,
      code: code === undefined ? '<error>' : String(code),
    });
  }

  /**
   * Sets the migration series of one ApiRoute from the status written for it, removing
   * those of routes that no longer migrate (status undefined: the ApiRoute is gone).
   */
  recordMigrations(key: string, status: ApiRouteStatus | undefined): void {
    const slash = key.indexOf('/');
    const base = { namespace: key.slice(0, slash), apiroute: key.slice(slash + 1) };
    const now = new Set<string>();
    for (const route of status?.routes ?? []) {
      const migration = route.migration;
      if (migration === undefined) continue;
      now.add(route.name);
      const labels = { ...base, route: route.name };
      this.migrationWeight.set(labels, migration.weight);
      this.migrationTargetWeight.set(labels, migration.plan.steps.at(-1) ?? 0);
      for (const phase of MIGRATION_PHASES)
        this.migrationPhase.set({ ...labels, phase }, phase === migration.phase ? 1 : 0);
    }
    for (const route of this.migrating.get(key) ?? []) {
      if (now.has(route)) continue;
      const labels = { ...base, route };
      this.migrationWeight.remove(labels);
      this.migrationTargetWeight.remove(labels);
      for (const phase of MIGRATION_PHASES) this.migrationPhase.remove({ ...labels, phase });
    }
    if (now.size > 0) this.migrating.set(key, now);
    else this.migrating.delete(key);
  }

  /** Drops every migration series: a replica that stops leading no longer knows them. */
  forgetMigrations(): void {
    for (const key of [...this.migrating.keys()]) this.recordMigrations(key, undefined);
  }
}
