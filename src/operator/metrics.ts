// The operator's Prometheus metrics. Label values are bounded: results, condition types
// and statuses are fixed sets, kinds are the few the operator watches. No ApiRoute names:
// per-route state is in each ApiRoute's status and in its gateway's own metrics.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectCleanDefaultMetrics } from '../common/metrics.js';

export const RECONCILE_RESULTS = ['success', 'error', 'terminal', 'conflict'] as const;
export type ReconcileMetricResult = (typeof RECONCILE_RESULTS)[number];

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'figway_operator_reconciles_total',
    help: 'Reconciles of ApiRoutes by result: success, error (retried), terminal (invalid input, not retried), conflict (an object is owned by someone else).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'figway_operator_reconcile_duration_seconds',
    help: 'Time one reconcile of an ApiRoute takes, API calls included.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'figway_operator_queue_depth',
    help: 'ApiRoute keys waiting in the work queue (not counting those being reconciled).',
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'figway_operator_queue_latency_seconds',
    help: 'Time an ApiRoute key waits in the work queue before its reconcile starts.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
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

  constructor(options: { processMetrics?: boolean } = {}) {
    this.leader.set(0);
    this.queueDepth.set(0);
    for (const result of RECONCILE_RESULTS) this.reconciles.inc({ result }, 0);
    // Clean: without prom-client's *_total gauges, which promtool rejects (prometheus/client_js#283).
    if (options.processMetrics ?? true)
      collectCleanDefaultMetrics(this.registry, 'figway_operator_');
  }
}
