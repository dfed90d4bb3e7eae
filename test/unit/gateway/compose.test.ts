import { describe, expect, it } from '@jest/globals';
import type { CompiledCompose } from '../../../src/api/compose-schema.js';
import {
  assembleAnswer,
  failureBody,
  isJsonMediaType,
  judgePartAnswer,
  partHeaders,
  requiredFailure,
  type PartResult,
} from '../../../src/gateway/compose.js';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

function part(name: string, optional = false): CompiledCompose['parts'][number] {
  return { name, backend: name, monolith: false, path: `/${name}`, optional, timeoutMs: 800 };
}

const COMPOSE: CompiledCompose = {
  parts: [part('profile'), part('orders', true), part('payments')],
};

describe('judgePartAnswer', () => {
  it('keeps the JSON text of a 2xx JSON answer', () => {
    expect(judgePartAnswer(200, JSON_TYPE, Buffer.from(' {"id":"42"}\n'))).toEqual({
      ok: true,
      json: '{"id":"42"}',
    });
    expect(
      judgePartAnswer(203, { 'content-type': 'application/problem+json' }, Buffer.from('[]')),
    ).toEqual({ ok: true, json: '[]' });
  });

  it.each<[string, number, Record<string, string>, string, PartResult]>([
    ['a 5xx', 500, JSON_TYPE, '{}', { ok: false, reason: 'status', status: 500 }],
    ['a 404', 404, JSON_TYPE, '{}', { ok: false, reason: 'status', status: 404 }],
    ['a 304 (no body)', 304, {}, '', { ok: false, reason: 'status', status: 304 }],
    ['text/html', 200, { 'content-type': 'text/html' }, '{}', { ok: false, reason: 'not-json' }],
    ['no content-type', 200, {}, '{}', { ok: false, reason: 'not-json' }],
    ['invalid JSON', 200, JSON_TYPE, '{"a":', { ok: false, reason: 'not-json' }],
    ['an empty body', 200, JSON_TYPE, '', { ok: false, reason: 'not-json' }],
    ['JSON with trailing text', 200, JSON_TYPE, '{}{}', { ok: false, reason: 'not-json' }],
  ])('fails %s', (_name, status, headers, body, expected) => {
    expect(judgePartAnswer(status, headers, Buffer.from(body))).toEqual(expected);
  });

  it('fails a body that is not UTF-8, rather than splicing replacement characters', () => {
    expect(judgePartAnswer(200, JSON_TYPE, Buffer.from([0x22, 0xff, 0x22]))).toEqual({
      ok: false,
      reason: 'not-json',
    });
  });

  it('tells JSON media types by type, not by substring', () => {
    expect(isJsonMediaType('Application/JSON')).toBe(true);
    expect(isJsonMediaType('text/json+html')).toBe(false);
    expect(isJsonMediaType('application/jsonp')).toBe(false);
    expect(isJsonMediaType(['application/json'])).toBe(false);
  });
});

describe('assembleAnswer', () => {
  const ok = (json: string): PartResult => ({ ok: true, json });

  it('puts each part under its name, in part order', () => {
    const answer = assembleAnswer(COMPOSE, [ok('{"id":"42"}'), ok('[1,2]'), ok('{"due":0}')]);
    expect(answer.status).toBe(200);
    if (answer.status !== 200) return;
    expect(answer.body).toBe('{"profile":{"id":"42"},"orders":[1,2],"payments":{"due":0}}\n');
    expect(JSON.parse(answer.body)).toEqual({
      profile: { id: '42' },
      orders: [1, 2],
      payments: { due: 0 },
    });
  });

  it('answers a failed optional part with null and lists it in _failed', () => {
    const answer = assembleAnswer(COMPOSE, [
      ok('{}'),
      { ok: false, reason: 'status', status: 503 },
      ok('{}'),
    ]);
    expect(answer.status).toBe(200);
    if (answer.status !== 200) return;
    expect(JSON.parse(answer.body)).toEqual({
      profile: {},
      orders: null,
      payments: {},
      _failed: [{ part: 'orders', reason: 'status', status: 503 }],
    });
  });

  it('fails the answer with 502 for a failed required part, naming it and why', () => {
    const answer = assembleAnswer(COMPOSE, [ok('{}'), ok('[]'), { ok: false, reason: 'timeout' }]);
    expect(answer).toEqual({
      status: 502,
      part: 'payments',
      reason: 'timeout',
      message: 'part payments failed: no whole answer within 800 ms',
    });
    if (answer.status !== 502) return;
    expect(JSON.parse(failureBody(answer, 'req-1', 'overview'))).toEqual({
      error: 'part payments failed: no whole answer within 800 ms',
      reason: 'compose-part-failed',
      part: 'payments',
      partReason: 'timeout',
      requestId: 'req-1',
      route: 'overview',
    });
  });

  it('decides on the first required failure alone, and never on an optional one', () => {
    expect(requiredFailure(part('orders', true), { ok: false, reason: 'reset' })).toBeUndefined();
    expect(requiredFailure(part('profile'), { ok: true, json: '{}' })).toBeUndefined();
    expect(
      requiredFailure(part('profile'), { ok: false, reason: 'status', status: 500 }),
    ).toMatchObject({ status: 502, part: 'profile', upstreamStatus: 500 });
  });
});

describe('partHeaders', () => {
  it('keeps the request headers an upstream gets, asks for identity JSON and drops what a bodiless GET cannot carry', () => {
    const headers = partHeaders(
      {
        'x-request-id': 'r1',
        'x-forwarded-for': '10.0.0.1',
        traceparent: '00-abc-def-01',
        'x-user-id': 'alice',
        'accept-encoding': 'gzip',
        accept: 'text/html',
        'content-length': '5',
        'transfer-encoding': 'chunked',
        'if-none-match': '"v1"',
        range: 'bytes=0-1',
      },
      'orders.shop.svc:80',
    );
    expect(headers).toEqual({
      'x-request-id': 'r1',
      'x-forwarded-for': '10.0.0.1',
      traceparent: '00-abc-def-01',
      'x-user-id': 'alice',
      accept: 'application/json',
      'accept-encoding': 'identity',
      host: 'orders.shop.svc:80',
    });
  });
});
