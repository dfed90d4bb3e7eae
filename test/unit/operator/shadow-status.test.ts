import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { compileRouteTable } from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import {
  changedKeys,
  COMPARED_QUERY,
  shadowStatuses,
  ShadowStatusPoller,
  type InstantQuery,
  type PromSample,
  type ShadowStatuses,
} from '../../../src/operator/shadow-status.js';
import { computeStatus } from '../../../src/operator/status.js';
import { validApiRoute } from '../../tools/api-route.js';

const at = (route: string, extra: Record<string, string>, value: number): PromSample => ({
  metric: { namespace: 'shop', apiroute: 'orders', route, ...extra },
  value: [0, String(value)],
});

describe('shadowStatuses', () => {
  it('turns comparison counts and top fields into status, per ApiRoute and route', () => {
    const statuses = shadowStatuses(
      [
        at('a', { result: 'match' }, 70),
        at('a', { result: 'mismatch' }, 20),
        at('a', { result: 'noise' }, 10),
        at('b', { result: 'match' }, 3),
        {
          metric: { namespace: 'other', apiroute: 'x', route: 'c', result: 'mismatch' },
          value: [0, '2'],
        },
        // Without the labels the chart's PodMonitor adds, or NaN: left out.
        { metric: { route: 'a', result: 'match' }, value: [0, '5'] },
        at('a', { result: 'match' }, Number.NaN),
      ],
      [
        at('a', { field: '$.total' }, 15),
        at('a', { field: 'status' }, 20),
        at('a', { field: '$.items[*].price' }, 15),
      ],
    );
    expect(statuses.get('shop/orders')?.get('a')).toEqual({
      requests: 100,
      mismatchRatio: 0.2,
      topFields: ['status', '$.items[*].price', '$.total'],
    });
    expect(statuses.get('shop/orders')?.get('b')).toEqual({
      requests: 3,
      mismatchRatio: 0,
      topFields: [],
    });
    expect(statuses.get('other/x')?.get('c')).toMatchObject({ requests: 2, mismatchRatio: 1 });
  });

  it('rounds the ratio to four decimals, so status does not change on every last digit', () => {
    const s = shadowStatuses(
      [at('a', { result: 'mismatch' }, 1), at('a', { result: 'match' }, 2)],
      [],
    );
    expect(s.get('shop/orders')?.get('a')?.mismatchRatio).toBe(0.3333);
  });
});

describe('changedKeys', () => {
  const one = (requests: number): ShadowStatuses =>
    new Map([['shop/orders', new Map([['a', { requests, mismatchRatio: 0, topFields: [] }]])]]);
  it('names ApiRoutes whose reading changed, appeared or went away', () => {
    expect(changedKeys(one(1), one(1))).toEqual([]);
    expect(changedKeys(one(1), one(2))).toEqual(['shop/orders']);
    expect(changedKeys(new Map(), one(1))).toEqual(['shop/orders']);
    expect(changedKeys(one(1), new Map())).toEqual(['shop/orders']);
  });
});

describe('ShadowStatusPoller', () => {
  it('hands over what changed, and keeps the last good reading while Prometheus fails', async () => {
    let answer: PromSample[] | Error = [at('a', { result: 'mismatch' }, 4)];
    const prometheus: InstantQuery = {
      instant: (promql) => {
        if (answer instanceof Error) return Promise.reject(answer);
        return Promise.resolve(promql === COMPARED_QUERY ? answer : []);
      },
    };
    const changed: string[][] = [];
    const poller = new ShadowStatusPoller(
      prometheus,
      60_000,
      (keys) => changed.push(keys),
      createLogger({ component: 'test', silent: true }),
    );
    await poller.poll();
    await poller.poll();
    expect(changed).toEqual([['shop/orders']]);
    answer = new Error('unreachable');
    await poller.poll();
    expect(poller.statusesOf('shop/orders')?.get('a')).toMatchObject({ requests: 4 });
    answer = [];
    await poller.poll();
    expect(changed).toEqual([['shop/orders'], ['shop/orders']]);
    expect(poller.statusesOf('shop/orders')).toBeUndefined();
  });
});

describe('status.routes[].shadow', () => {
  const route = validApiRoute(
    parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop, generation: 1 }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: a
      match: { path: { value: /a } }
      backends: [{ service: orders, port: 80, weight: 0 }, { monolith: true, weight: 100 }]
      shadow: { backend: orders, percent: 10 }
    - name: b
      match: { path: { value: /b } }
      backends: [{ service: orders, port: 80, weight: 50 }, { monolith: true, weight: 50 }]
`),
  );
  it('shows the reading of routes that shadow, and nothing for those that no longer do', () => {
    const reading = { requests: 9, mismatchRatio: 0.5, topFields: ['$.total'] };
    const status = computeStatus(
      route,
      {
        kind: 'applied',
        gatewayService: 'orders-gateway',
        configHash: 'h',
        table: compileRouteTable(route),
        deployment: { metadata: {}, spec: { replicas: 1, selector: {}, template: {} } },
        monolith: 'legacy:8080',
        shadow: new Map([
          ['a', reading],
          ['b', reading],
        ]),
      },
      new Date('2026-01-01T00:00:00Z'),
    );
    expect(status.routes).toEqual([
      { name: 'a', newServicePercent: 0, shadow: reading },
      { name: 'b', newServicePercent: 50 },
    ]);
  });
});

describe('the operator flags for the shadow status', () => {
  it('reads the status from --prometheus-url every --shadow-status-seconds, and only with one', async () => {
    const { parseOperatorFlags } = await import('../../../src/operator/command.js');
    expect(parseOperatorFlags([], {}).options.shadowStatus).toBeUndefined();
    expect(
      parseOperatorFlags(
        ['--prometheus-url=http://prometheus.monitoring:9090', '--shadow-status-seconds=5'],
        {},
      ).options.shadowStatus,
    ).toMatchObject({
      intervalMs: 5000,
      prometheus: { description: 'Prometheus at http://prometheus.monitoring:9090' },
    });
  });
});
