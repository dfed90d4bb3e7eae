import { describe, expect, test } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { apiStatusCode, describeApiError } from '../../../src/common/api-error.js';

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
