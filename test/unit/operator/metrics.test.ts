// The operator's metrics under controller-runtime's names, fed by the real work queue.
import { describe, expect, it } from '@jest/globals';
import { OperatorMetrics } from '../../../src/operator/metrics.js';
import { WorkQueue } from '../../../src/operator/queue.js';

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 5));
}

describe('operator metrics', () => {
  it('counts work-queue adds (not dedupes), retries and reconciles as controller-runtime names them', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    const queue = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 1,
      maxDelayMs: 1,
      hooks: metrics.queueHooks(),
    });
    let runs = 0;
    queue.add('shop/orders');
    queue.add('shop/orders'); // already waiting: not an add
    queue.start(async () => {
      runs += 1;
      if (runs === 1) throw new Error('first try fails');
      metrics.reconciled('success', 0.01);
      return Promise.resolve();
    });
    await until(() => runs >= 2);
    await queue.shutdown();
    metrics.reconciled('terminal', 0.02);
    const text = await metrics.registry.metrics();
    // The first add, and the retry's add after the failure.
    expect(text).toContain('workqueue_adds_total{name="apiroute"} 2');
    expect(text).toContain('workqueue_retries_total{name="apiroute"} 1');
    expect(text).toContain('workqueue_depth{name="apiroute"} 0');
    expect(text).toContain('workqueue_queue_duration_seconds_count{name="apiroute"} 2');
    expect(text).toContain(
      'controller_runtime_reconcile_total{controller="apiroute",result="success"} 1',
    );
    expect(text).toContain(
      'controller_runtime_reconcile_total{controller="apiroute",result="terminal"} 1',
    );
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="apiroute"} 1');
    expect(text).toContain(
      'controller_runtime_reconcile_time_seconds_count{controller="apiroute"} 2',
    );
    expect(text).toMatch(/^figway_build_info\{version="[^"]+",nodejs_version="v[^"]+"\} 1$/m);
  });

  it('counts API requests by code, method and host, with <error> for no answer', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.restRequest('GET', '10.0.0.1:6443', 200);
    metrics.restRequest('GET', '10.0.0.1:6443', 200);
    metrics.restRequest('PUT', '10.0.0.1:6443', undefined);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'rest_client_requests_total{method="GET",host="10.0.0.1:6443",code="200"} 2',
    );
    expect(text).toContain(
      'rest_client_requests_total{method="PUT",host="10.0.0.1:6443",code="<error>"} 1',
    );
  });
});
