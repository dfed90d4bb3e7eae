import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import protobuf from 'protobufjs';
import { compileGrpcDescriptor } from '../../../../src/api/index.js';
import {
  MAX_DEPTH,
  parseJsonBody,
  replyJson,
  requestMessage,
  RequestFieldError,
} from '../../../../src/gateway/grpc/message.js';
import {
  codeName,
  errorBody,
  GRPC_CODE_NAMES,
  httpStatusOf,
} from '../../../../src/gateway/grpc/status.js';

const PROTO = readFileSync(
  join(import.meta.dirname, '..', '..', '..', '..', 'examples', 'payments.proto'),
  'utf8',
);

function types(method: string) {
  const result = compileGrpcDescriptor({ kind: 'proto', text: PROTO }, method, []);
  if (!result.ok) throw new Error(result.message);
  const root = protobuf.Root.fromJSON(result.value.descriptor);
  root.resolveAll();
  return {
    request: root.lookupType(result.value.requestType),
    response: root.lookupType(result.value.responseType),
  };
}

const create = types('payments.v1.Payments/CreatePayment');
const get = types('payments.v1.Payments/GetPayment');

function decoded(type: protobuf.Type, bytes: Uint8Array) {
  return type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String });
}

function fieldError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof RequestFieldError) return error.message;
    throw error;
  }
  throw new Error('expected a RequestFieldError');
}

describe('requestMessage', () => {
  it('maps a JSON body by JSON names and .proto names, 64-bit integers as strings', () => {
    const bytes = requestMessage(create.request, {
      body: {
        customerId: 'c-1',
        amount: { currency: 'EUR', amount_minor: '9007199254740993' },
        tags: ['a', 'b'],
        labels: { channel: 'web' },
        idempotencyKey: 'AQID',
      },
      query: '',
      params: {},
    });
    expect(decoded(create.request, bytes)).toEqual({
      customerId: 'c-1',
      amount: { currency: 'EUR', amountMinor: '9007199254740993' },
      tags: ['a', 'b'],
      labels: { channel: 'web' },
      idempotencyKey: 'AQID',
    });
  });

  it('sets query parameters over the body and path parameters over both', () => {
    const bytes = requestMessage(create.request, {
      body: { customerId: 'from-body', amount: { currency: 'EUR', amountMinor: 5 } },
      query: 'customer_id=from-query&amount.currency=USD&tags=x&tags=y',
      params: { customerId: 'from-path' },
    });
    expect(decoded(create.request, bytes)).toEqual({
      customerId: 'from-path',
      amount: { currency: 'USD', amountMinor: '5' },
      tags: ['x', 'y'],
    });
    const fromQuery = requestMessage(get.request, {
      body: undefined,
      query: 'include_refunds=true',
      params: { payment_id: 'p 1/2' },
    });
    expect(decoded(get.request, fromQuery)).toEqual({ paymentId: 'p 1/2', includeRefunds: true });
  });

  it.each([
    [{ customer: 'x' }, '', 'customer: is not a field of payments.v1.CreatePaymentRequest'],
    [{ amount: { cents: 1 } }, '', 'amount.cents: is not a field of payments.v1.Money'],
    [{ customerId: 7 }, '', 'customerId: must be a string, got 7'],
    [
      { amount: { amountMinor: 1.5 } },
      '',
      'amount.amountMinor: must be an int64 (a whole number), got 1.5',
    ],
    [
      { amount: { amountMinor: '9223372036854775808' } },
      '',
      'amount.amountMinor: must be an int64',
    ],
    [{ tags: 'a' }, '', 'tags: must be an array, got "a"'],
    [{ tags: [1] }, '', 'tags[0]: must be a string, got 1'],
    [{ labels: [] }, '', 'labels: must be an object (a map), got []'],
    [{ amount: 'EUR' }, '', 'amount: must be a JSON object (message Money), got "EUR"'],
    [{ idempotencyKey: 'not base64!' }, '', 'idempotencyKey: must be base64 bytes'],
    [[1, 2], '', 'must be a JSON object (message CreatePaymentRequest), got [1,2]'],
    [
      undefined,
      'nope=1',
      'nope: (query parameter) is not a field of payments.v1.CreatePaymentRequest',
    ],
    [
      undefined,
      'customerId=a&customerId=b',
      'customerId: (query parameter) is not repeated but has 2 values',
    ],
    [
      undefined,
      'amount=1',
      'amount: (query parameter) is a message field: set it in the JSON body',
    ],
    [
      undefined,
      'customerId.x=1',
      'customerId: (query parameter) is not a message field: it has no fields',
    ],
  ])('refuses body %j query %j: %s', (body, query, message) => {
    expect(fieldError(() => requestMessage(create.request, { body, query, params: {} }))).toContain(
      message,
    );
  });

  it('reads query and path values as the field type says', () => {
    expect(
      fieldError(() =>
        requestMessage(get.request, { body: undefined, query: 'includeRefunds=yes', params: {} }),
      ),
    ).toBe('includeRefunds: must be true or false, got "yes"');
  });

  it('refuses messages nested deeper than MAX_DEPTH, before any recursion runs away', () => {
    const root = protobuf.parse(
      'syntax = "proto3";\npackage t;\nmessage Node { Node child = 1; string name = 2; }\n',
    ).root;
    root.resolveAll();
    const node = root.lookupType('t.Node');
    let body: Record<string, unknown> = { name: 'leaf' };
    for (let i = 0; i < MAX_DEPTH; i += 1) body = { child: body };
    expect(requestMessage(node, { body, query: '', params: {} }).length).toBeGreaterThan(0);
    const deeper = { child: body };
    expect(
      fieldError(() => requestMessage(node, { body: deeper, query: '', params: {} })),
    ).toContain(`nests messages deeper than ${MAX_DEPTH} levels`);
  });

  it('leaves null fields at their default', () => {
    const bytes = requestMessage(create.request, {
      body: { customerId: null, amount: null, tags: null },
      query: '',
      params: {},
    });
    expect(bytes.length).toBe(0);
  });
});

describe('parseJsonBody', () => {
  it('reads JSON, and an empty body as none', () => {
    expect(parseJsonBody(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(parseJsonBody(Buffer.alloc(0))).toBeUndefined();
  });

  it('refuses what is not JSON, saying so', () => {
    expect(fieldError(() => parseJsonBody(Buffer.from('{"a":')))).toMatch(
      /^the body is not JSON: /,
    );
  });
});

describe('replyJson', () => {
  it('writes proto3 JSON: every field, int64 as strings, enums by name, bytes base64', () => {
    const type = create.response;
    const message = type.fromObject({
      id: 'p-1',
      amount: { currency: 'EUR', amountMinor: '9007199254740993' },
      state: 'SETTLED',
      receipt: Buffer.from([1, 2, 3]),
      feeRatio: Number.NaN,
      sequence: '18446744073709551615',
    });
    expect(JSON.parse(replyJson(type, type.encode(message).finish()))).toEqual({
      id: 'p-1',
      customerId: '',
      amount: { currency: 'EUR', amountMinor: '9007199254740993' },
      state: 'SETTLED',
      tags: [],
      labels: {},
      receipt: 'AQID',
      feeRatio: 'NaN',
      sequence: '18446744073709551615',
    });
  });

  it('writes an empty reply with the defaults', () => {
    expect(JSON.parse(replyJson(get.response, new Uint8Array()))).toEqual({
      id: '',
      customerId: '',
      amount: null,
      state: 'PAYMENT_STATE_UNSPECIFIED',
      tags: [],
      labels: {},
      receipt: '',
      feeRatio: 0,
      sequence: '0',
    });
  });
});

describe('gRPC status → HTTP', () => {
  // grpc-gateway's runtime.HTTPStatusFromCode, code by code.
  const TABLE: [string, number][] = [
    ['OK', 200],
    ['CANCELLED', 499],
    ['UNKNOWN', 500],
    ['INVALID_ARGUMENT', 400],
    ['DEADLINE_EXCEEDED', 504],
    ['NOT_FOUND', 404],
    ['ALREADY_EXISTS', 409],
    ['PERMISSION_DENIED', 403],
    ['RESOURCE_EXHAUSTED', 429],
    ['FAILED_PRECONDITION', 400],
    ['ABORTED', 409],
    ['OUT_OF_RANGE', 400],
    ['UNIMPLEMENTED', 501],
    ['INTERNAL', 500],
    ['UNAVAILABLE', 503],
    ['DATA_LOSS', 500],
    ['UNAUTHENTICATED', 401],
  ];

  it.each(TABLE.map(([name, status], code) => [code, name, status] as const))(
    'code %i (%s) → %i',
    (code, name, status) => {
      expect(codeName(code)).toBe(name);
      expect(httpStatusOf(code)).toBe(status);
    },
  );

  it('has the 17 codes, and reads any other as UNKNOWN', () => {
    expect(GRPC_CODE_NAMES).toHaveLength(17);
    for (const code of [17, -1, 1.5, 99]) {
      expect(codeName(code)).toBe('UNKNOWN');
      expect(httpStatusOf(code)).toBe(500);
    }
  });

  it('writes the error body as grpc-gateway does', () => {
    expect(JSON.parse(errorBody(5, 'payment p-9 not found', undefined))).toEqual({
      code: 5,
      message: 'payment p-9 not found',
    });
    expect(
      JSON.parse(errorBody(3, 'bad', [{ '@type': 'type.googleapis.com/x.Y', value: 'AQ==' }])),
    ).toEqual({
      code: 3,
      message: 'bad',
      details: [{ '@type': 'type.googleapis.com/x.Y', value: 'AQ==' }],
    });
  });
});
