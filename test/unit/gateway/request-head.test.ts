// The request head as the gateway reads it before routing: target, normal path, Host.
// The attacker spellings are the point: each must land on the route its normal form names
// and be forwarded as that form, or be refused.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  hostOf,
  isValidHost,
  MAX_HOST_LENGTH,
  MAX_PATH_LENGTH,
  normalizePath,
  parseRequestTarget,
} from '../../../src/gateway/request-head.js';

describe('parseRequestTarget', () => {
  it.each([
    // origin-form
    ['/a/b?c=1', '/a/b', 'c=1'],
    ['/a', '/a', ''],
    ['/a?', '/a', ''],
    ['/a?b?c', '/a', 'b?c'],
    ['/?x', '/', 'x'],
    // '//a' is an absolute path with an empty first segment, not an authority.
    ['//evil.example/x', '//evil.example/x', ''],
    // absolute-form: the path and query only; Host stays the request's own.
    ['http://evil.example/x?y=1', '/x', 'y=1'],
    ['HTTPS://evil.example:8443/x', '/x', ''],
    ['http://evil.example', '/', ''],
    ['http://evil.example?q=1', '/', 'q=1'],
    ['http://evil.example/?', '/', ''],
    ['http://[::1]:8080/a/../b', '/a/../b', ''],
  ])('%s is path %s, query %s', (url, path, query) => {
    expect(parseRequestTarget(url)).toEqual({ kind: 'origin', path, query });
  });

  it('reads * as the asterisk form', () => {
    expect(parseRequestTarget('*')).toEqual({ kind: 'asterisk' });
  });

  it.each([
    ['/a/b?c#frag', 'fragment'],
    ['/a#', 'fragment'],
    ['http://evil.example/x#f', 'fragment'],
    ['http://user@evil.example/x', 'userinfo'],
    ['http://user:pw@evil.example', 'userinfo'],
    ['http:///x', 'no host'],
    ['https://?q', 'no host'],
    ['ftp://evil.example/x', 'must be a path'],
    ['ws://evil.example/x', 'must be a path'],
    ['evil.example:443', 'must be a path'],
    ['a/b', 'must be a path'],
    ['**', 'must be a path'],
    ['', 'must be a path'],
  ])('refuses %s (%s)', (url, reason) => {
    const target = parseRequestTarget(url);
    expect(target.kind).toBe('invalid');
    expect(target.kind === 'invalid' && target.reason).toContain(reason);
  });
});

describe('normalizePath', () => {
  it.each([
    '/',
    '/api/cart',
    '/api/cart/',
    '/a/b;c=d',
    "/a:b@c!$&'()*+,;=-._~",
    '/a%2Fb',
    '/a%5Cb',
    '/caf%C3%A9',
    '/a%20b',
    '/a%25b',
    '/.a/..b/a./...',
    '/a/b.json',
  ])('leaves the normal path %s as it is', (path) => {
    expect(normalizePath(path)).toEqual({ ok: true, path });
  });

  it.each([
    // dot segments, also encoded: the route is chosen by the resolved path
    ['/api/cart/../admin', '/api/admin'],
    ['/admin/../api/cart', '/api/cart'],
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/cart/%2E%2E/x', '/api/x'],
    ['/api/cart/.%2e/x', '/api/x'],
    ['/api/cart/%2e./x', '/api/x'],
    ['/a/./b', '/a/b'],
    ['/a/%2e/b', '/a/b'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/a/./', '/a/'],
    ['/.', '/'],
    ['/a/b/../../c', '/c'],
    // slashes merged, before dot segments are resolved
    ['//a', '/a'],
    ['//', '/'],
    ['/a//b///c', '/a/b/c'],
    ['/a//', '/a/'],
    ['/a//../b', '/b'],
    // %2F and %5C are data, never separators; remaining escapes uppercased
    ['/a%2fb', '/a%2Fb'],
    ['/a%5cb', '/a%5Cb'],
    ['/api%2f..%2fadmin', '/api%2F..%2Fadmin'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    // escapes of unreserved characters decoded, in either case
    ['/%41pi', '/Api'],
    ['/%61pi', '/api'],
    ['/%7euser', '/~user'],
    ['/%7Euser/%2D%5F%2E', '/~user/-_.'],
    ['/a%30', '/a0'],
    // characters browsers send raw but RFC 3986 does not allow: encoded
    ['/a|b', '/a%7Cb'],
    ['/a b', '/a%20b'],
    ['/[x]', '/%5Bx%5D'],
    ['/a"<>^`{}', '/a%22%3C%3E%5E%60%7B%7D'],
  ])('normalises %s to %s', (input, expected) => {
    expect(normalizePath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ['/../x', 'above the root'],
    ['/%2e%2e/x', 'above the root'],
    ['/%2E%2E', 'above the root'],
    ['/..', 'above the root'],
    ['/a/../../x', 'above the root'],
    ['/a/b#frag', 'fragment'],
    ['/a?b', "'?'"],
    ['/a%zz', 'malformed percent-escape'],
    ['/a%', 'malformed percent-escape'],
    ['/a%2', 'malformed percent-escape'],
    ['/a%g0/b', 'malformed percent-escape'],
    ['/a%%41', 'malformed percent-escape'],
    ['/a%00b', 'NUL'],
    ['/a\u0000b', 'control character'],
    ['/a\tb', 'control character'],
    ['/a\nb', 'control character'],
    ['/a\u007fb', 'control character'],
    ['/a\\b', 'backslash'],
    ['/api/cart\\..\\admin', 'backslash'],
    ['/café', 'non-ASCII'],
    ['/a\u2215b', 'non-ASCII'],
    ['a/b', "start with '/'"],
    ['', "start with '/'"],
    ['/api/cart/..;/admin', "';' parameters"],
    ['/api/cart/.;x/y', "';' parameters"],
    ['/api/%2e%2e;/admin', "';' parameters"],
  ])('refuses %s (%s) with 400', (input, reason) => {
    const result = normalizePath(input);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.status).toBe(400);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('answers an overlong path 414 and takes one of the longest allowed', () => {
    const longest = `/${'a'.repeat(MAX_PATH_LENGTH - 1)}`;
    expect(normalizePath(longest)).toEqual({ ok: true, path: longest });
    expect(normalizePath(`${longest}a`)).toMatchObject({ ok: false, status: 414 });
    expect(normalizePath(`/.${longest}`)).toMatchObject({ ok: false, status: 414 });
  });

  const pathChars = fc.constantFrom(
    ...'/./../%2e%2E%2f%2F%41%61%7e%zz%00;a:b@~|\\ #?é\t'.split(''),
    '%2e',
    '%2E',
    '%2f',
    '%5c',
    '%41',
    '%c3',
    '..',
    '.;',
    '//',
  );
  const paths = fc.array(pathChars, { maxLength: 24 }).map((parts) => `/${parts.join('')}`);

  it('takes the fast way only for paths the slow way leaves as they are', () => {
    // A leading '//' always takes the slow way, and merging it changes nothing else.
    fc.assert(
      fc.property(paths, (path) => {
        expect(normalizePath(`/${path}`)).toEqual(normalizePath(path));
      }),
      { numRuns: 5000 },
    );
  });

  it('is idempotent: a normal path normalises to itself', () => {
    fc.assert(
      fc.property(paths, (path) => {
        const once = normalizePath(path);
        if (once.ok) expect(normalizePath(once.path)).toEqual(once);
      }),
      { numRuns: 5000 },
    );
  });

  it('never yields an empty or dot segment, a lowercase escape or an escaped unreserved character', () => {
    fc.assert(
      fc.property(paths, (path) => {
        const result = normalizePath(path);
        if (!result.ok) return;
        const segments = result.path.slice(1).split('/');
        segments.forEach((segment, i) => {
          if (i < segments.length - 1) expect(segment).not.toBe('');
          expect(['.', '..']).not.toContain(segment);
        });
        expect(result.path).not.toMatch(
          /%(?![0-9A-F]{2})|%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E)|\\/,
        );
      }),
      { numRuns: 5000 },
    );
  });
});

describe('hostOf', () => {
  it.each([
    [['Host', 'shop.example'], 'shop.example'],
    [['host', 'shop.example:8080'], 'shop.example:8080'],
    [['HOST', '10.0.0.1'], '10.0.0.1'],
    [['Host', 'shop.example.'], 'shop.example.'],
    [['Host', 'svc_internal'], 'svc_internal'],
    [['Host', '[::1]:8080'], '[::1]:8080'],
    [['Host', '[::1]'], '[::1]'],
    [['Host', '[2001:db8::1]'], '[2001:db8::1]'],
    [['Host', '[::ffff:10.0.0.1]:443'], '[::ffff:10.0.0.1]:443'],
    [['Host', 'x:65535'], 'x:65535'],
    [['Host', `${'a'.repeat(253)}:65535`], `${'a'.repeat(253)}:65535`],
    [['Accept', '*/*', 'Host', 'shop.example', 'Via', '1.1 lb'], 'shop.example'],
    // other headers whose names merely resemble Host
    [['X-Host', 'evil', 'Hosts', 'evil', 'Host', 'shop.example'], 'shop.example'],
    // HTTP/1.0 without Host (Node refuses HTTP/1.1 without one itself)
    [[], ''],
  ])('reads %j as %s', (raw, value) => {
    expect(hostOf(raw)).toEqual({ ok: true, value });
  });

  it.each([
    [['Host', 'shop.example', 'Host', 'evil.example'], 'more than one'],
    [['Host', 'shop.example', 'hOsT', 'shop.example'], 'more than one'],
    [['Host', ''], 'empty'],
    [['Host', 'a'.repeat(MAX_HOST_LENGTH + 1)], 'longer than'],
    [['Host', 'shop example'], 'DNS name'],
    [['Host', ' shop.example'], 'DNS name'],
    [['Host', 'user@evil.example'], 'DNS name'],
    [['Host', 'shop.example@evil.example'], 'DNS name'],
    [['Host', 'evil.example/x'], 'DNS name'],
    [['Host', 'a.example, b.example'], 'DNS name'],
    [['Host', 'caf\u00e9.example'], 'DNS name'],
    [['Host', 'shop%2eexample'], 'DNS name'],
    [['Host', '::1'], 'DNS name'],
    [['Host', '[::1'], 'DNS name'],
    [['Host', '[1.2.3.4]'], 'DNS name'],
    [['Host', '[fe80::1%25eth0]'], 'DNS name'],
    [['Host', '[v1.x]'], 'DNS name'],
    [['Host', '[::1]x'], 'DNS name'],
    [['Host', 'x:'], 'DNS name'],
    [['Host', ':80'], 'DNS name'],
    [['Host', 'x:65536'], 'DNS name'],
    [['Host', 'x:80a'], 'DNS name'],
    [['Host', 'x:8:8'], 'DNS name'],
  ])('refuses %j (%s) with 400', (raw, reason) => {
    const result = hostOf(raw);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.status).toBe(400);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('validates X-Forwarded-Host values with the same grammar', () => {
    expect(isValidHost('shop.example:443')).toBe(true);
    expect(isValidHost('[::1]')).toBe(true);
    expect(isValidHost('a.example, b.example')).toBe(false);
    expect(isValidHost('')).toBe(false);
  });
});
