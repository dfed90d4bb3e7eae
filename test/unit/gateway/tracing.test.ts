// The gateway's tracer lifecycle across configs, and what a request costs with tracing off:
// no tracer, no trace, and children that are one shared function doing nothing.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import { FastCounter } from '../../../src/common/metrics.js';
import type { ProxyPlan } from '../../../src/gateway/plan.js';
import { GatewayTracing, startChildSpan } from '../../../src/gateway/tracing.js';

const source = { namespace: 'shop', name: 'orders' };
const plan = {
  method: 'GET',
  route: { name: 'orders-api', split: { newWeight: 25 } },
  path: '/api/orders/1',
  host: 'shop.example',
  clientAddress: '203.0.113.7',
  requestId: 'r-1',
} as unknown as ProxyPlan;
const backend = { name: 'orders', origin: 'http://orders.shop.svc:80' };

const tracings: GatewayTracing[] = [];
function tracing(): GatewayTracing {
  const counter = new FastCounter<'reason'>({
    registry: new Registry(),
    name: 'figway_gateway_trace_spans_dropped_total',
    help: 'test',
    labelNames: ['reason'],
  });
  const t = new GatewayTracing(counter, () => undefined);
  tracings.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(tracings.splice(0).map((t) => t.shutdown()));
});

describe('GatewayTracing', () => {
  test('off: no trace per request, and no span or header for a stage child', () => {
    const t = tracing();
    t.configure({ source });
    expect(t.startRequest(plan, {})).toBeUndefined();
    const headers = {};
    const end = startChildSpan(undefined, 'GET orders', backend, headers);
    expect(end).toBe(startChildSpan(undefined, 'GET other', backend, {}));
    expect(headers).toEqual({});
  });

  test('on, off and on again follow the table; a new trace gets a traceparent per attempt', () => {
    const t = tracing();
    const on = { source, tracing: { endpoint: 'http://127.0.0.1:4318', samplingRatio: 1 } };
    t.configure(on);
    const requestTrace = t.startRequest(plan, {});
    expect(requestTrace?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const headers: Record<string, string> = {};
    requestTrace?.startAttempt('GET', backend, headers, false);
    expect(headers.traceparent).toMatch(
      new RegExp(`^00-${requestTrace?.traceId}-[0-9a-f]{16}-01$`),
    );
    t.configure({ source });
    expect(t.startRequest(plan, {})).toBeUndefined();
    t.configure(on);
    expect(t.startRequest(plan, {})).toBeDefined();
  });

  test('an unsampled trace still passes its trace id on, with the sampled flag off', () => {
    const t = tracing();
    t.configure({ source, tracing: { endpoint: 'http://127.0.0.1:4318', samplingRatio: 0 } });
    const requestTrace = t.startRequest(plan, {});
    expect(requestTrace?.sampled).toBe(false);
    const headers: Record<string, string> = { tracestate: 'stale=1' };
    requestTrace?.startAttempt('GET', backend, headers, false);
    expect(headers.traceparent).toMatch(
      new RegExp(`^00-${requestTrace?.traceId}-[0-9a-f]{16}-00$`),
    );
    expect(headers.tracestate).toBeUndefined();
    expect(startChildSpan(requestTrace, 'GET orders', backend, {})).toBe(
      startChildSpan(undefined, 'GET orders', backend, {}),
    );
  });
});
