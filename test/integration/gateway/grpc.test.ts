// REST to gRPC end to end: a real grpc-js server on loopback, a gateway serving a route
// table compiled with the proto of examples/payments.proto, real HTTP clients.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  compileGrpcDescriptor,
  compileRouteTable,
  pathParameterNames,
  validateYamlDocuments,
  type GrpcDescriptor,
} from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import { Gateway } from '../../../src/gateway/server.js';
import { GRPC_CODE_NAMES } from '../../../src/gateway/grpc/status.js';
import { PROTO_FILE, startPaymentService, type PaymentService } from '../../tools/payments-grpc.js';
import { closedPort, sample, send, startUpstream, type Upstream } from './helpers.js';

const PROTO = readFileSync(PROTO_FILE, 'utf8');

/** grpc-gateway's HTTP status of each code, index = code. */
const HTTP_OF_CODE = [
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
];

function descriptor(method: string, path: { type: string; value: string }): GrpcDescriptor {
  const result = compileGrpcDescriptor(
    { kind: 'proto', text: PROTO },
    method,
    pathParameterNames(path),
  );
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

describe('REST to gRPC through the gateway', () => {
  let payments: PaymentService;
  let legacy: Upstream;
  let gateway: Gateway;
  let url: string;
  let backend: string;

  beforeAll(async () => {
    payments = await startPaymentService();
    legacy = await startUpstream('legacy');
    backend = `127.0.0.1:${payments.port}`;
    const down = await closedPort();
    const getPath = { type: 'Exact', value: '/api/payments/{payment_id}' };
    const yaml = `apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: payments, namespace: test }
spec:
  monolith: { url: "${legacy.url}" }
  routes:
    - name: get-payment
      match: { path: { type: Exact, value: "/api/payments/{payment_id}" }, methods: [GET] }
      backends: [{ url: "http://${backend}", weight: 100 }]
      overrideHeader: x-side
      timeout: 300ms
      cors: { allowOrigins: ["https://shop.example"] }
      responseHeaders: { set: { x-api: grpc } }
      grpc:
        backend: "${backend}"
        proto: { configMap: payments-proto, key: payments.proto }
        method: payments.v1.Payments/GetPayment
        metadata: [x-user-id]
    - name: create-payment
      match: { path: { type: Exact, value: /api/payments }, methods: [POST] }
      backends: [{ url: "http://${backend}", weight: 100 }]
      grpc:
        backend: "${backend}"
        proto: { configMap: payments-proto, key: payments.proto }
        method: payments.v1.Payments/CreatePayment
    - name: down
      match: { path: { type: Exact, value: "/down/{payment_id}" } }
      backends: [{ url: "http://127.0.0.1:${down}", weight: 100 }]
      grpc:
        backend: "127.0.0.1:${down}"
        proto: { configMap: payments-proto, key: payments.proto }
        method: payments.v1.Payments/GetPayment
`;
    const [document] = validateYamlDocuments(yaml);
    if (document?.value === undefined) throw new Error(JSON.stringify(document?.errors));
    const table = compileRouteTable(document.value, {
      grpcDescriptors: new Map([
        ['get-payment', descriptor('payments.v1.Payments/GetPayment', getPath)],
        [
          'create-payment',
          descriptor('payments.v1.Payments/CreatePayment', { type: 'Exact', value: '/' }),
        ],
        [
          'down',
          descriptor('payments.v1.Payments/GetPayment', {
            type: 'Exact',
            value: '/down/{payment_id}',
          }),
        ],
      ]),
    });
    gateway = new Gateway({
      logger: createLogger({ component: 'gateway', silent: true }),
      defaultMetrics: false,
    });
    gateway.applyTable(table);
    url = `http://127.0.0.1:${await gateway.listen(0, '127.0.0.1')}`;
  });

  afterAll(async () => {
    await gateway.shutdown(1000);
    payments.server.forceShutdown();
    await legacy.close();
  });

  it('answers GET with path and query parameters as proto3 JSON', async () => {
    const reply = await send(`${url}/api/payments/p-1?include_refunds=true`, {
      headers: {
        'x-user-id': 'u-7',
        'x-secret': 'not for the backend',
        origin: 'https://shop.example',
      },
    });
    expect(reply.status).toBe(200);
    // The route's response stages apply to the translated reply as to a proxied one.
    expect(reply.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(reply.headers['x-api']).toBe('grpc');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-figway-backend']).toBe(backend);
    expect(reply.json()).toEqual({
      id: 'p-1',
      customerId: 'u-7',
      amount: { currency: 'EUR', amountMinor: '9007199254740993' },
      state: 'REFUNDED',
      tags: [],
      labels: {},
      receipt: Buffer.from('receipt').toString('base64'),
      feeRatio: 0,
      sequence: '18446744073709551615',
    });
    const metadata = payments.metadata.at(-1);
    expect(metadata?.get('x-user-id')).toEqual(['u-7']);
    expect(metadata?.get('x-request-id')).toEqual([reply.headers['x-request-id']]);
    // Only the allow-listed headers become metadata.
    expect(metadata?.get('x-secret')).toEqual([]);
  });

  it('maps a POST body, with nested messages, repeated fields, maps and bytes', async () => {
    const reply = await send(`${url}/api/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        customer_id: 'c-1',
        amount: { currency: 'EUR', amountMinor: 1250 },
        tags: ['web'],
        labels: { channel: 'app' },
        idempotencyKey: 'AQID',
      }),
    });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({
      id: 'p-new',
      customerId: 'c-1',
      amount: { currency: 'EUR', amountMinor: '1250' },
      tags: ['web'],
      labels: { channel: 'app' },
      receipt: 'AQID',
    });
  });

  it('refuses bad requests before any call: unknown field, bad JSON, media type, size', async () => {
    const before = payments.metadata.length;
    const post = (body: string, contentType = 'application/json') =>
      send(`${url}/api/payments`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
    const unknown = await post('{"customer_id":"c","amount":{"cents":1}}');
    expect(unknown.status).toBe(400);
    expect(unknown.json()).toMatchObject({
      reason: 'grpc-bad-request',
      error: 'amount.cents: is not a field of payments.v1.Money',
    });
    const badJson = await post('{"customer_id":');
    expect(badJson.status).toBe(400);
    expect(badJson.json<{ error: string }>().error).toMatch(/^the body is not JSON/);
    expect((await post('customer_id=c', 'application/x-www-form-urlencoded')).status).toBe(415);
    const big = await post(JSON.stringify({ customerId: 'x'.repeat(5 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(big.headers.connection).toBe('close');
    expect(payments.metadata.length).toBe(before);
  });

  it.each(HTTP_OF_CODE.slice(1).map((status, index) => [index + 1, status] as const))(
    'gRPC status %i → HTTP %i with { code, message }',
    async (code, status) => {
      const reply = await send(`${url}/api/payments/status-${code}`);
      expect(reply.status).toBe(status);
      expect(reply.json()).toEqual({ code, message: `planned status ${code}` });
    },
  );

  it('counts calls by route and gRPC code', async () => {
    const text = await gateway.metrics.registry.metrics();
    const calls = (code: string) =>
      sample(text, `figway_gateway_grpc_calls_total{route="get-payment",code="${code}"}`);
    expect(calls('NOT_FOUND')).toBe(1);
    expect(calls('OK')).toBeGreaterThanOrEqual(1);
    expect(GRPC_CODE_NAMES.every((name) => calls(name) !== undefined)).toBe(true);
  });

  it('answers 504 when the route timeout (the deadline) passes', async () => {
    const started = Date.now();
    const reply = await send(`${url}/api/payments/slow`);
    expect(reply.status).toBe(504);
    expect(reply.json<{ code: number }>().code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('answers 503 when the gRPC server is down', async () => {
    const reply = await send(`${url}/down/p-1`);
    expect(reply.status).toBe(503);
    expect(reply.json<{ code: number }>().code).toBe(grpc.status.UNAVAILABLE);
  });

  it('leaves requests the split sends to the monolith as plain HTTP', async () => {
    const reply = await send(`${url}/api/payments/p-1`, { headers: { 'x-side': 'monolith' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-figway-backend']).toBe('monolith');
    expect(reply.json()).toMatchObject({ servedBy: 'legacy', url: '/api/payments/p-1' });
  });

  it('keeps serving after a client that vanishes mid-body', async () => {
    const before = payments.metadata.length;
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /api/payments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"customerId":',
    );
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(payments.metadata.length).toBe(before);
    expect(gateway.requestsInFlight).toBe(0);
    expect((await send(`${url}/api/payments/p-1`)).status).toBe(200);
  });

  it('cancels the call of a client that leaves, before its deadline', async () => {
    const cancelled = async () =>
      sample(
        await gateway.metrics.registry.metrics(),
        'figway_gateway_grpc_calls_total{route="get-payment",code="CANCELLED"}',
      ) ?? 0;
    const before = await cancelled();
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /api/payments/slow HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    const left = Date.now();
    socket.destroy();
    // The route timeout is 300 ms: a cancel must come well before the deadline would.
    while (Date.now() - left < 200) {
      if ((await cancelled()) === before + 1) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the call was not cancelled within 200 ms of the client leaving');
  });
});
