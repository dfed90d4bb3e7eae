// REST to gRPC on the real control plane: the proto in a ConfigMap is read by the operator
// (not the gateway), compiled into the route table, and a gateway that reads only its own
// route-table ConfigMap (with its own ServiceAccount) translates a request to a real grpc-js
// server; a malformed proto, a method that does not exist and a streaming method are
// Accepted=False naming what is wrong; editing the ConfigMap re-reconciles the ApiRoute.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseRouteTable, ROUTE_TABLE_KEY } from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/command.js';
import { ConfigMapConfigSource } from '../../../src/gateway/configmap-source.js';
import { testClusterEnv } from '../../cluster/env.js';
import { serviceAccountKubeConfig } from '../../tools/kube.js';
import { PROTO_FILE, startPaymentService, type PaymentService } from '../../tools/payments-grpc.js';
import {
  clients,
  condition,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  eventually,
  installCrd,
  kubeConfig,
  patchApiRoute,
  startOperator,
  waitForCondition,
  type RunningOperator,
} from './helpers.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;
const PROTO = readFileSync(PROTO_FILE, 'utf8');

function manifest(namespace: string, name: string, method: string, configMap = 'payments-proto') {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name, namespace },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      gateway: { replicas: 1 },
      routes: [
        {
          name: 'get-payment',
          match: { path: { type: 'Exact', value: '/api/payments/{payment_id}' } },
          backends: [{ service: 'payments-grpc', port: 50051, weight: 100 }],
          grpc: {
            backend: 'payments-grpc',
            proto: { configMap, key: 'payments.proto' },
            method,
          },
        },
      ],
    },
  };
}

describeCluster('REST to gRPC with the proto in a ConfigMap', () => {
  let kc: KubeConfig;
  let ns: string;
  let op: RunningOperator | undefined;
  let payments: PaymentService | undefined;
  let gateway: RunningGateway | undefined;

  const setProto = async (text: string) => {
    const core = clients(kc).core;
    const body = { metadata: { name: 'payments-proto' }, data: { 'payments.proto': text } };
    await core
      .replaceNamespacedConfigMap({ name: 'payments-proto', namespace: ns, body })
      .catch(() => core.createNamespacedConfigMap({ namespace: ns, body }));
  };

  const call = async () => {
    const res = await fetch(`http://127.0.0.1:${gateway?.port ?? 0}/api/payments/p-1`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    kc = kubeConfig(env?.kubeconfigPath ?? '');
    await installCrd(kc, env?.stateFile ?? '');
    ns = await createNamespace(kc, 'grpc');
    op = await startOperator(kc, { namespaces: [ns] });
    payments = await startPaymentService();
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop(0);
    await op?.stop();
    payments?.server.forceShutdown();
    await deleteNamespace(kc, ns);
  });

  test('the descriptor reaches the gateway through its route table; a broken proto is refused and re-read on change', async () => {
    await setProto(PROTO);
    await createApiRoute(kc, manifest(ns, 'shop', 'payments.v1.Payments/GetPayment'));
    await waitForCondition(kc, ns, 'shop', 'Accepted', 'True', 60_000);
    const configMap = await clients(kc).core.readNamespacedConfigMap({
      name: 'shop-gateway',
      namespace: ns,
    });
    const table = parseRouteTable(configMap.data?.[ROUTE_TABLE_KEY] ?? '');
    expect(table.routes[0]?.grpc).toMatchObject({
      service: 'payments.v1.Payments',
      method: 'GetPayment',
      requestType: 'payments.v1.GetPaymentRequest',
    });
    expect(table.routes[0]?.grpc?.descriptor).toBeDefined();

    // A gateway with its own ServiceAccount: it reads only its route-table ConfigMap.
    const gatewayKc = await serviceAccountKubeConfig(kc, ns, 'shop-gateway');
    await expect(
      clients(gatewayKc).core.readNamespacedConfigMap({ name: 'payments-proto', namespace: ns }),
    ).rejects.toMatchObject({ code: 403 });
    gateway = await startGateway({
      source: new ConfigMapConfigSource({
        namespace: ns,
        name: 'shop-gateway',
        kubeConfig: gatewayKc,
      }),
      port: 0,
      adminPort: 0,
      host: '127.0.0.1',
      overrides: new Map([['payments-grpc', `http://127.0.0.1:${payments?.port ?? 0}`]]),
      logger: createLogger({ component: 'gateway', silent: process.env.FIGWAY_TEST_LOGS !== '1' }),
    });
    const answer = await call();
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      id: 'p-1',
      amount: { currency: 'EUR', amountMinor: '9007199254740993' },
      state: 'SETTLED',
    });

    // The ConfigMap edited to a malformed proto: the watch re-reconciles, Accepted=False
    // names the ConfigMap, key and line; the gateway keeps serving the last good table.
    await setProto(
      'syntax = "proto3";\npackage payments.v1;\nmessage Payment {\n  string id = ;\n}\n',
    );
    const refused = await waitForCondition(kc, ns, 'shop', 'Accepted', 'False', 30_000);
    expect(condition(refused.status, 'Accepted')).toMatchObject({
      reason: 'ProtoInvalid',
      message: `route get-payment: ConfigMap ${ns}/payments-proto key payments.proto: illegal id ';' (line 4)`,
    });
    expect((await call()).status).toBe(200);

    // Fixed again: accepted on the ConfigMap's change alone (no retry is pending).
    await setProto(PROTO);
    await waitForCondition(kc, ns, 'shop', 'Accepted', 'True', 30_000);

    // A method the proto does not have, then a streaming one.
    await patchApiRoute(kc, ns, 'shop', {
      spec: { routes: [manifest(ns, 'shop', 'payments.v1.Payments/Refund').spec.routes[0]] },
    });
    const missing = await waitForCondition(kc, ns, 'shop', 'Accepted', 'False', 30_000);
    expect(condition(missing.status, 'Accepted')).toMatchObject({
      reason: 'MethodNotFound',
      message: expect.stringContaining('method Refund is not in service payments.v1.Payments'),
    });
    await patchApiRoute(kc, ns, 'shop', {
      spec: {
        routes: [manifest(ns, 'shop', 'payments.v1.Payments/WatchPayments').spec.routes[0]],
      },
    });
    await eventually('MethodNotUnary', async () => {
      const route = await waitForCondition(kc, ns, 'shop', 'Accepted', 'False', 30_000);
      return condition(route.status, 'Accepted')?.reason === 'MethodNotUnary' ? route : undefined;
    });
    expect((await call()).status).toBe(200);
  }, 180_000);

  test('an ApiRoute naming a ConfigMap that does not exist is accepted once it is created', async () => {
    await createApiRoute(
      kc,
      manifest(ns, 'later', 'payments.v1.Payments/GetPayment', 'late-proto'),
    );
    const route = await waitForCondition(kc, ns, 'later', 'Accepted', 'False', 30_000);
    expect(condition(route.status, 'Accepted')).toMatchObject({
      reason: 'ProtoNotFound',
      message: expect.stringContaining(`ConfigMap ${ns}/late-proto not found`),
    });
    await clients(kc).core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'late-proto' }, data: { 'payments.proto': PROTO } },
    });
    // Well within the informer resync: the ConfigMap watch brings the ApiRoute back.
    await waitForCondition(kc, ns, 'later', 'Accepted', 'True', 10_000);
  }, 120_000);
});
