// The operator's side of REST to gRPC against an in-memory cluster: the proto ConfigMap
// read at reconcile time, checked against the route's method, and compiled into the
// gateway's route table; what is wrong is Accepted=False naming it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { parseRouteTable, ROUTE_TABLE_KEY } from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import { EventRecorder } from '../../../src/operator/events.js';
import {
  checkProtos,
  MAX_DESCRIPTOR_BYTES,
  namesProtoConfigMap,
} from '../../../src/operator/grpc-proto.js';
import { TerminalError } from '../../../src/operator/queue.js';
import { Reconciler, type RawApiRoute } from '../../../src/operator/reconciler.js';
import { validateForReconcile } from '../../../src/operator/reconciler.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import { FakeCluster } from './fake-cluster.js';

const PROTO = readFileSync(
  join(import.meta.dirname, '..', '..', '..', 'examples', 'payments.proto'),
  'utf8',
);

function apiRoute(method = 'payments.v1.Payments/GetPayment', generation = 1): RawApiRoute {
  return parse(`
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: payments, namespace: shop, uid: 11111111-2222-4333-8444-555555555555, generation: ${generation}, resourceVersion: "7" }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: get-payment
      match: { path: { type: Exact, value: "/api/payments/{payment_id}" } }
      backends: [{ service: payments-grpc, port: 50051, weight: 100 }]
      grpc:
        backend: payments-grpc
        proto: { configMap: payments-proto, key: payments.proto }
        method: ${method}
`) as RawApiRoute;
}

function protoConfigMap(data: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'payments-proto', namespace: 'shop' },
    data,
  };
}

describe('gRPC protos at reconcile time', () => {
  let cluster: FakeCluster;
  let reconciler: Reconciler;

  beforeEach(() => {
    cluster = new FakeCluster();
    reconciler = new Reconciler({
      cache: cluster,
      writer: cluster,
      events: new EventRecorder(cluster, { instance: 'test' }),
      settings: DEFAULT_SETTINGS,
      isLeader: () => true,
      logger: createLogger({ component: 'operator', silent: true }),
      now: () => new Date('2026-01-01T00:00:00Z'),
    });
  });

  const accepted = () => cluster.statuses.at(-1)?.conditions?.find((c) => c.type === 'Accepted');

  test('puts the compiled descriptor into the route table ConfigMap', async () => {
    cluster.objects.set(
      'ConfigMap/shop/payments-proto',
      protoConfigMap({ 'payments.proto': PROTO }),
    );
    cluster.apiRoutes.set('shop/payments', apiRoute());
    await reconciler.reconcile('shop/payments');
    expect(accepted()).toMatchObject({ status: 'True' });
    const configMap = cluster.objects.get('ConfigMap/shop/payments-gateway') as {
      data: Record<string, string>;
    };
    const table = parseRouteTable(configMap.data[ROUTE_TABLE_KEY] as string);
    expect(table.routes[0]?.grpc).toMatchObject({
      backend: 'payments-grpc',
      service: 'payments.v1.Payments',
      method: 'GetPayment',
      requestType: 'payments.v1.GetPaymentRequest',
    });
    expect(JSON.stringify(table.routes[0]?.grpc?.descriptor)).toContain('paymentId');
  });

  test.each([
    [undefined, 'ProtoNotFound', 'ConfigMap shop/payments-proto not found'],
    [
      { 'other.proto': PROTO },
      'ProtoNotFound',
      'ConfigMap shop/payments-proto has no key payments.proto (it has other.proto)',
    ],
    [
      { 'payments.proto': 'syntax = "proto3";\nmessage {' },
      'ProtoInvalid',
      "route get-payment: ConfigMap shop/payments-proto key payments.proto: illegal type name '{' (line 2)",
    ],
  ])(
    'ConfigMap data %j: Accepted=False %s, nothing applied, not retried',
    async (data, reason, message) => {
      if (data !== undefined)
        cluster.objects.set('ConfigMap/shop/payments-proto', protoConfigMap(data));
      cluster.apiRoutes.set('shop/payments', apiRoute());
      const failure = reconciler.reconcile('shop/payments');
      await expect(failure).rejects.toBeInstanceOf(TerminalError);
      expect(cluster.writes).toEqual(['status shop/payments']);
      expect(accepted()).toMatchObject({ status: 'False', reason });
      expect(accepted()?.message).toContain(message);
      expect(cluster.events.at(-1)).toMatchObject({ type: 'Warning', reason });
    },
  );

  test.each([
    [
      'payments.v1.Payments/Refund',
      'MethodNotFound',
      'method Refund is not in service payments.v1.Payments',
    ],
    ['payments.v1.Payments/WatchPayments', 'MethodNotUnary', 'is server streaming'],
  ])('method %s: Accepted=False %s', async (method, reason, message) => {
    cluster.objects.set(
      'ConfigMap/shop/payments-proto',
      protoConfigMap({ 'payments.proto': PROTO }),
    );
    cluster.apiRoutes.set('shop/payments', apiRoute(method));
    await expect(reconciler.reconcile('shop/payments')).rejects.toBeInstanceOf(TerminalError);
    expect(accepted()).toMatchObject({ status: 'False', reason });
    expect(accepted()?.message).toContain(message);
  });
});

describe('checkProtos', () => {
  test('reads a FileDescriptorSet from binaryData', () => {
    const validated = validateForReconcile(apiRoute());
    if (!validated.ok) throw new Error('invalid');
    const check = checkProtos(
      validated.value,
      'shop',
      new Map([
        [
          'payments-proto',
          { binaryData: { 'payments.proto': Buffer.from('garbage').toString('base64') } },
        ],
      ]),
    );
    expect(check).toMatchObject({ ok: false, failures: [{ reason: 'ProtoInvalid' }] });
  });

  test('refuses descriptors too large for the route table ConfigMap', () => {
    const validated = validateForReconcile(apiRoute());
    if (!validated.ok) throw new Error('invalid');
    const fields = Array.from(
      { length: 10_000 },
      (_, i) => `  string field_with_a_rather_long_name_number_${i} = ${i + 10};`,
    ).join('\n');
    const proto = PROTO.replace('message Payment {', `message Payment {\n${fields}`);
    const check = checkProtos(
      validated.value,
      'shop',
      new Map([['payments-proto', { data: { 'payments.proto': proto } }]]),
    );
    expect(check).toMatchObject({ ok: false, failures: [{ reason: 'ProtoTooLarge' }] });
    expect(!check.ok && check.failures[0]?.message).toContain(`more than ${MAX_DESCRIPTOR_BYTES}`);
  });
});

describe('namesProtoConfigMap', () => {
  test('finds the ConfigMap in an unvalidated spec, and survives any shape', () => {
    expect(namesProtoConfigMap(apiRoute().spec, 'payments-proto')).toBe(true);
    expect(namesProtoConfigMap(apiRoute().spec, 'other')).toBe(false);
    for (const spec of [undefined, null, 7, { routes: 'x' }, { routes: [null, 1, { grpc: 3 }] }]) {
      expect(namesProtoConfigMap(spec, 'payments-proto')).toBe(false);
    }
  });
});
