import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import {
  compileGrpcDescriptor,
  compileRouteTable,
  validateApiRoute,
  type ApiRouteInput,
} from '../../../src/api/index.js';

const PROTO = readFileSync(
  join(import.meta.dirname, '..', '..', '..', 'examples', 'payments.proto'),
  'utf8',
);
const source = { kind: 'proto' as const, text: PROTO };

describe('compileGrpcDescriptor', () => {
  it('keeps only the types the method needs, fields under their JSON names', () => {
    const result = compileGrpcDescriptor(source, 'payments.v1.Payments/GetPayment', ['payment_id']);
    if (!result.ok) throw new Error(result.message);
    expect(result.value).toMatchObject({
      service: 'payments.v1.Payments',
      method: 'GetPayment',
      requestType: 'payments.v1.GetPaymentRequest',
      responseType: 'payments.v1.Payment',
    });
    const root = protobuf.Root.fromJSON(result.value.descriptor);
    root.resolveAll();
    expect(Object.keys(root.lookupType('payments.v1.GetPaymentRequest').fields)).toEqual([
      'paymentId',
      'includeRefunds',
    ]);
    expect(root.lookupEnum('payments.v1.PaymentState').values.SETTLED).toBe(2);
    expect(root.lookupType('payments.v1.Money').fields.amountMinor?.type).toBe('int64');
    // Neither the service nor the types of other methods travel in the route table.
    expect(root.lookup('payments.v1.CreatePaymentRequest')).toBeNull();
    expect(root.lookup('payments.v1.Payments')).toBeNull();
  });

  it('names the line of a syntax error (ProtoInvalid)', () => {
    const result = compileGrpcDescriptor(
      { kind: 'proto', text: 'syntax = "proto3";\nmessage A {\n  string x = ;\n}\n' },
      'a.A/B',
      [],
    );
    expect(result).toEqual({
      ok: false,
      reason: 'ProtoInvalid',
      message: "illegal id ';' (line 3)",
    });
  });

  it('refuses imports it cannot resolve, and resolves the well-known types', () => {
    const other = compileGrpcDescriptor(
      { kind: 'proto', text: 'syntax = "proto3";\nimport "shared/money.proto";\n' },
      'a.A/B',
      [],
    );
    expect(other).toMatchObject({ ok: false, reason: 'ProtoInvalid' });
    expect(!other.ok && other.message).toContain('imports "shared/money.proto"');
    const wellKnown = compileGrpcDescriptor(
      {
        kind: 'proto',
        text: 'syntax = "proto3";\nimport "google/protobuf/timestamp.proto";\npackage a;\nservice S { rpc M(R) returns (R); }\nmessage R { google.protobuf.Timestamp at = 1; }\n',
      },
      'a.S/M',
      [],
    );
    expect(wellKnown.ok).toBe(true);
  });

  it('names a type that does not resolve (ProtoInvalid)', () => {
    const result = compileGrpcDescriptor(
      {
        kind: 'proto',
        text: 'syntax = "proto3";\npackage a;\nservice S { rpc M(Missing) returns (Missing); }\n',
      },
      'a.S/M',
      [],
    );
    expect(result).toMatchObject({ ok: false, reason: 'ProtoInvalid' });
    expect(!result.ok && result.message).toContain('Missing');
  });

  it.each([
    [
      'payments.v1.Nope/GetPayment',
      'service payments.v1.Nope is not in the proto (it has payments.v1.Payments)',
    ],
    [
      'payments.v1.Payments/Nope',
      'method Nope is not in service payments.v1.Payments (it has GetPayment, CreatePayment, WatchPayments)',
    ],
  ])('%s: MethodNotFound, listing what there is', (method, message) => {
    expect(compileGrpcDescriptor(source, method, [])).toEqual({
      ok: false,
      reason: 'MethodNotFound',
      message,
    });
  });

  it('refuses a streaming method (MethodNotUnary)', () => {
    expect(compileGrpcDescriptor(source, 'payments.v1.Payments/WatchPayments', [])).toEqual({
      ok: false,
      reason: 'MethodNotUnary',
      message:
        'method payments.v1.Payments/WatchPayments is server streaming: only unary methods can be translated from REST',
    });
  });

  it('refuses a path parameter the request message has no field for', () => {
    const result = compileGrpcDescriptor(source, 'payments.v1.Payments/GetPayment', ['id']);
    expect(result).toMatchObject({ ok: false, reason: 'MethodNotFound' });
    expect(!result.ok && result.message).toBe(
      'path parameter {id} names no field of payments.v1.GetPaymentRequest (it has payment_id, include_refunds)',
    );
  });

  it('reads a FileDescriptorSet, with its snake_case names as JSON names', () => {
    const root = protobuf.parse(PROTO, { keepCase: true }).root;
    // protobufjs's descriptor extension ships without types.
    const ext = descriptorExt as unknown as {
      FileDescriptorSet: { encode(set: unknown): { finish(): Uint8Array } };
    };
    const set = ext.FileDescriptorSet.encode(
      (root as unknown as { toDescriptor(syntax: string): unknown }).toDescriptor('proto3'),
    ).finish();
    const result = compileGrpcDescriptor(
      { kind: 'descriptorSet', bytes: set },
      'payments.v1.Payments/CreatePayment',
      [],
    );
    if (!result.ok) throw new Error(result.message);
    const loaded = protobuf.Root.fromJSON(result.value.descriptor);
    expect(Object.keys(loaded.lookupType('payments.v1.CreatePaymentRequest').fields)).toEqual([
      'customerId',
      'amount',
      'tags',
      'labels',
      'idempotencyKey',
    ]);
  });

  it('says a FileDescriptorSet that is not one is ProtoInvalid', () => {
    const result = compileGrpcDescriptor(
      { kind: 'descriptorSet', bytes: Buffer.from('not a descriptor set') },
      'a.S/M',
      [],
    );
    expect(result).toMatchObject({ ok: false, reason: 'ProtoInvalid' });
  });
});

function apiRoute(
  grpc: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): ApiRouteInput {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'payments', namespace: 'shop' },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      routes: [
        {
          name: 'get-payment',
          match: { path: { type: 'Exact', value: '/api/payments/{payment_id}' } },
          backends: [
            { service: 'payments-grpc', port: 50051, weight: 50 },
            { monolith: true, weight: 50 },
          ],
          grpc: {
            backend: 'payments-grpc',
            proto: { configMap: 'payments-proto', key: 'payments.proto' },
            method: 'payments.v1.Payments/GetPayment',
            ...grpc,
          },
          ...extra,
        },
      ],
    },
  };
}

describe('spec.routes[].grpc', () => {
  it('compiles into the route table with the descriptor it is given', () => {
    const result = validateApiRoute(apiRoute({ metadata: ['X-User-Id', 'authorization'] }));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const compiled = compileGrpcDescriptor(source, 'payments.v1.Payments/GetPayment', [
      'payment_id',
    ]);
    if (!compiled.ok) throw new Error(compiled.message);
    const table = compileRouteTable(result.value, {
      grpcDescriptors: new Map([['get-payment', compiled.value]]),
    });
    expect(table.routes[0]?.grpc).toEqual({
      backend: 'payments-grpc',
      service: 'payments.v1.Payments',
      method: 'GetPayment',
      requestType: 'payments.v1.GetPaymentRequest',
      responseType: 'payments.v1.Payment',
      metadata: ['x-user-id', 'authorization'],
      descriptor: compiled.value.descriptor,
    });
    // Without the proto (a local run from a file) the gateway gets no descriptor.
    expect(compileRouteTable(result.value).routes[0]?.grpc?.descriptor).toBeUndefined();
  });

  it.each([
    [
      { backend: 'payments' },
      'spec.routes[0].grpc.backend',
      'must name a non-monolith backend of this route ("payments-grpc"), got "payments"',
    ],
    [{ method: 'GetPayment' }, 'spec.routes[0].grpc.method', 'must be a fully qualified method'],
    [
      { metadata: ['connection'] },
      'spec.routes[0].grpc.metadata[0]',
      'cannot be sent as gRPC metadata',
    ],
    [
      { metadata: ['grpc-timeout'] },
      'spec.routes[0].grpc.metadata[0]',
      'cannot be sent as gRPC metadata',
    ],
    [{ metadata: ['x-trace-bin'] }, 'spec.routes[0].grpc.metadata[0]', 'ends in -bin'],
    [
      { proto: { configMap: 'Payments', key: 'payments.proto' } },
      'spec.routes[0].grpc.proto.configMap',
      'DNS-1123',
    ],
    [
      { proto: { configMap: 'payments-proto', key: 'a/b' } },
      'spec.routes[0].grpc.proto.key',
      'must be a ConfigMap key',
    ],
  ])('refuses %j at %s', (grpc, path, message) => {
    const result = validateApiRoute(apiRoute(grpc));
    expect(result.ok).toBe(false);
    const error = !result.ok ? result.errors.find((e) => e.path === path) : undefined;
    expect(error?.message).toContain(message);
  });

  it('refuses the gRPC backend as the shadow backend', () => {
    const result = validateApiRoute(
      apiRoute({}, { shadow: { backend: 'payments-grpc', percent: 10 } }),
    );
    expect(!result.ok && result.errors.map((e) => e.path)).toContain('spec.routes[0].grpc.backend');
  });
});
