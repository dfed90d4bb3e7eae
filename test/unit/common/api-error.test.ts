import { describe, expect, test } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { apiErrorFields, apiStatusCode, describeApiError } from '../../../src/common/api-error.js';
import { errorFields } from '../../../src/common/logger.js';

const notFound = new ApiException(
  404,
  'Unknown API Status Code!',
  JSON.stringify({ kind: 'Status', message: 'leases "figway" not found', code: 404 }),
  { 'content-type': 'application/json' },
);

describe('apiStatusCode', () => {
  test('reads the HTTP status of a client-node ApiException', () => {
    expect(apiStatusCode(notFound)).toBe(404);
  });

  test('reads statusCode, and the code of a watch ERROR event Status', () => {
    expect(apiStatusCode({ statusCode: 503 })).toBe(503);
    expect(apiStatusCode({ kind: 'Status', code: 410, reason: 'Expired' })).toBe(410);
  });

  test('is undefined for errors without an HTTP status, such as a socket error code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(apiStatusCode(refused)).toBeUndefined();
    expect(apiStatusCode(undefined)).toBeUndefined();
  });
});

describe('describeApiError', () => {
  test("is the server's message and the status, not the headers dump", () => {
    expect(describeApiError(notFound)).toBe('leases "figway" not found (HTTP 404)');
  });

  test('is the first line of any other error', () => {
    expect(describeApiError(new Error('socket hang up\n    at stack'))).toBe('socket hang up');
  });
});

describe('apiErrorFields and errorFields', () => {
  const forbidden = new ApiException(
    403,
    'Unknown API Status Code!',
    JSON.stringify({
      kind: 'Status',
      message: 'leases is forbidden: User "x" cannot create',
      reason: 'Forbidden',
      code: 403,
    }),
    { 'content-type': 'application/json', 'audit-id': 'abc' },
  );

  test('carry status, reason and message, never the headers', () => {
    expect(apiErrorFields(forbidden)).toEqual({
      status: 403,
      reason: 'Forbidden',
      message: 'leases is forbidden: User "x" cannot create',
    });
    expect(describeApiError(forbidden)).toBe(
      'leases is forbidden: User "x" cannot create (HTTP 403 Forbidden)',
    );
    const wrapped = new Error('reconcile failed', { cause: forbidden });
    for (const fields of [errorFields(forbidden), errorFields(wrapped)]) {
      expect(fields).toMatchObject({ status: 403, reason: 'Forbidden' });
      expect(JSON.stringify(fields)).not.toMatch(/audit-id|Headers|HTTP-Code/);
    }
    expect(errorFields(wrapped).error).toBe('reconcile failed');
  });

  test('name the socket error under fetch failed', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {
        code: 'ECONNREFUSED',
      }),
    });
    expect(describeApiError(refused)).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:6443');
  });
});
