import { describe, expect, it } from '@jest/globals';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import {
  compareResponses,
  decodedBody,
  isJsonMediaType,
  type CapturedResponse,
} from '../../../../src/gateway/shadow/compare.js';
import { Differences } from '../../../../src/gateway/shadow/differences.js';
import { compileIgnore } from '../../../../src/gateway/shadow/ignore.js';
import type { Headers } from '../../../../src/gateway/transforms.js';

const JSON_TYPE = { 'content-type': 'application/json' };

function answer(
  body: string | Buffer,
  headers: Headers = JSON_TYPE,
  status = 200,
): CapturedResponse {
  return { status, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body) };
}

function compare(
  primary: CapturedResponse,
  candidate: CapturedResponse,
  options: { headers?: string[]; ignore?: string[]; max?: number } = {},
): Map<string, unknown> {
  const out = new Differences(true);
  compareResponses(
    primary,
    candidate,
    {
      headers: options.headers ?? ['content-type'],
      ignore: compileIgnore(options.ignore ?? []),
      maxBodyBytes: options.max ?? 1024 * 1024,
    },
    out,
  );
  return out.fields;
}

describe('compareResponses', () => {
  it('finds nothing between equal answers', () => {
    expect(compare(answer('{"a":1}'), answer('{"a":1}')).size).toBe(0);
  });

  it('always compares the status', () => {
    expect(compare(answer('{}'), answer('{}', JSON_TYPE, 404))).toEqual(
      new Map([['status', { primary: 200, candidate: 404 }]]),
    );
  });

  it('compares the chosen headers only', () => {
    const p = answer('{}', { 'content-type': 'application/json', date: 'Mon', etag: '"1"' });
    const c = answer('{}', { 'content-type': 'text/plain', date: 'Tue', etag: '"2"' });
    expect([...compare(p, c).keys()]).toEqual(['headers.content-type']);
    expect([...compare(p, c, { headers: ['etag'] }).keys()]).toEqual(['headers.etag']);
  });

  it('compares JSON bodies structurally, whitespace and member order aside', () => {
    expect(compare(answer('{"a":1,"b":[1]}'), answer('{ "b": [1],\n "a": 1 }')).size).toBe(0);
    expect([...compare(answer('{"a":1,"b":2}'), answer('{"a":1,"b":3}')).keys()]).toEqual(['$.b']);
  });

  it('applies ignore paths to JSON bodies', () => {
    const p = answer('{"timestamp":1,"total":5}');
    const c = answer('{"timestamp":2,"total":5}');
    expect(compare(p, c, { ignore: ['$.timestamp'] }).size).toBe(0);
  });

  it('compares other media types byte for byte, as one field', () => {
    const text = { 'content-type': 'text/html' };
    expect(compare(answer('<p>a</p>', text), answer('<p>b</p>', text))).toEqual(
      new Map([['body', { primary: Buffer.from('<p>a</p>'), candidate: Buffer.from('<p>b</p>') }]]),
    );
  });

  it('compares a body that claims JSON but is not by its bytes', () => {
    expect([...compare(answer('{"a":1}'), answer('oops')).keys()]).toEqual(['body']);
  });

  it('compares encoded bodies by what they encode', () => {
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const br = { 'content-type': 'application/json', 'content-encoding': 'br' };
    const p = answer(gzipSync('{"a":1,"b":2}'), gz);
    expect(compare(p, answer(brotliCompressSync('{"b":2,"a":1}'), br)).size).toBe(0);
    expect([...compare(p, answer('{"a":1,"b":3}')).keys()]).toEqual(['$.b']);
  });

  it('treats a body that decodes past the limit as bytes, not as a bomb to inflate', () => {
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const big = gzipSync(`{"a":"${'x'.repeat(100_000)}"}`);
    expect(decodedBody(answer(big, gz), 1000)).toBeUndefined();
    expect([...compare(answer(big, gz), answer('{}'), { max: 1000 }).keys()]).toEqual(['body']);
  });

  it('ignores the whole body with $', () => {
    expect(compare(answer('a', {}), answer('b', {}), { ignore: ['$'] }).size).toBe(0);
  });
});

describe('isJsonMediaType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON', true],
    ['application/problem+json', true],
    ['text/json', false],
    ['text/html', false],
    [undefined, false],
  ])('%s → %s', (type, expected) => {
    expect(isJsonMediaType(type)).toBe(expected);
  });
});
