// The trust model for X-Forwarded-*: who the client is, and what the upstream is told.
import { BlockList } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseIpInto } from '../../../src/api/index.js';
import {
  clientAddress,
  compileTrustedProxies,
  forwardedHeaders,
  PEER_ONLY_HEADERS,
} from '../../../src/gateway/forwarded.js';
import type { Headers } from '../../../src/gateway/transforms.js';

const NONE = compileTrustedProxies([]);
const LB = compileTrustedProxies(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', 'fd00::/8']);

describe('trusted proxies', () => {
  it.each([
    ['10.1.2.3', true],
    ['10.255.255.255', true],
    ['11.0.0.1', false],
    ['9.255.255.255', false],
    ['::ffff:10.0.0.1', true],
    ['::FFFF:10.0.0.1', true],
    ['::ffff:a00:1', true],
    ['::ffff:11.0.0.1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['2001:db8::1', true],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db9::1', false],
    ['fd12:3456::1', true],
    ['fd00::1%eth0', true],
    ['fe80::1%eth0', false],
    ['::1', false],
    ['', false],
    ['unknown', false],
    ['10.0.0.256', false],
    ['010.0.0.1', false],
  ])('%s is trusted: %s', (address, trusted) => {
    expect(LB.contains(address)).toBe(trusted);
  });

  it('trusts nobody by default', () => {
    expect(NONE.contains('10.0.0.1')).toBe(false);
    expect(NONE.contains('127.0.0.1')).toBe(false);
    expect(NONE.contains('::1')).toBe(false);
  });

  it('matches IPv4 peers by IPv4 ranges only, however the socket writes them', () => {
    const allV6 = compileTrustedProxies(['::/0']);
    expect(allV6.contains('::1')).toBe(true);
    expect(allV6.contains('10.0.0.1')).toBe(false);
    expect(allV6.contains('::ffff:10.0.0.1')).toBe(false);
    const allV4 = compileTrustedProxies(['0.0.0.0/0']);
    expect(allV4.contains('::ffff:203.0.113.1')).toBe(true);
    expect(allV4.contains('::1')).toBe(false);
  });

  it.each([
    ['10.0.0.0/31', '10.0.0.1', true],
    ['10.0.0.0/31', '10.0.0.2', false],
    ['2001:db8::/127', '2001:db8::1', true],
    ['2001:db8::/127', '2001:db8::2', false],
    ['2001:db8:0:0:8000::/65', '2001:db8::8000:0:0:1', true],
    ['2001:db8:0:0:8000::/65', '2001:db8::7fff:0:0:1', false],
    ['2001:db8::/96', '2001:db8::ffff:ffff', true],
    ['2001:db8::/96', '2001:db8::1:0:0', false],
  ])('%s contains %s: %s', (cidr, address, inside) => {
    expect(compileTrustedProxies([cidr]).contains(address)).toBe(inside);
  });

  it("agrees with Node's BlockList on random ranges and addresses", () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4());
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }), fc.ipV6());
    fc.assert(
      fc.property(fc.oneof(v4, v6), ([network, prefix, address]) => {
        const family = network.includes(':') ? 'ipv6' : 'ipv4';
        // The gateway reads IPv4-mapped addresses as IPv4; BlockList keeps them IPv6.
        // Compare where the two models are meant to agree.
        if (family === 'ipv6' && (isMapped(network) || isMapped(address))) return;
        const list = new BlockList();
        list.addSubnet(network, prefix, family);
        const ours = compileTrustedProxies([masked(network, prefix)]);
        expect({ network, prefix, address, trusted: ours.contains(address) }).toEqual({
          network,
          prefix,
          address,
          trusted: list.check(address, family),
        });
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses a range the schema would have refused', () => {
    expect(() => compileTrustedProxies(['10.0.0.0/33'])).toThrow(
      'trustedProxies: "10.0.0.0/33" is not a CIDR',
    );
  });
});

function isMapped(address: string): boolean {
  return parseIpInto(address, 0, address.length, new Uint32Array(4)) === 4;
}

/** The network of an address and prefix, in the form parseCidr takes (host bits zero). */
function masked(address: string, prefix: number): string {
  if (!address.includes(':')) {
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const net = (value & mask) >>> 0;
    return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${prefix}`;
  }
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)]
      .map((g) => g.toString(16))
      .join(':'),
  );
  const [head = '', tail = ''] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = text.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = text.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  let bits = BigInt(0);
  for (const g of groups) bits = (bits << BigInt(16)) | BigInt(parseInt(g, 16));
  const mask =
    prefix === 0 ? BigInt(0) : ((BigInt(1) << BigInt(prefix)) - BigInt(1)) << BigInt(128 - prefix);
  const net = bits & mask;
  const out: string[] = [];
  for (let i = 7; i >= 0; i -= 1) out.push(((net >> BigInt(i * 16)) & BigInt(0xffff)).toString(16));
  return `${out.join(':')}/${prefix}`;
}

describe('clientAddress', () => {
  it.each([
    // an untrusted peer is the client, whatever it says: no picking one's own cohort
    ['203.0.113.9', '198.51.100.1', NONE, '203.0.113.9'],
    ['10.0.0.2', '198.51.100.1', NONE, '10.0.0.2'],
    ['203.0.113.9', '198.51.100.1', LB, '203.0.113.9'],
    ['::ffff:203.0.113.9', undefined, LB, '203.0.113.9'],
    ['::ffff:0:203.0.113.9', undefined, LB, '::ffff:0:203.0.113.9'],
    ['2001:db9::9', '198.51.100.1', LB, '2001:db9::9'],
    ['', '198.51.100.1', LB, ''],
    // a trusted peer: the rightmost entry that is not a trusted proxy
    ['10.0.0.2', undefined, LB, '10.0.0.2'],
    ['10.0.0.2', '', LB, '10.0.0.2'],
    ['10.0.0.2', '203.0.113.7', LB, '203.0.113.7'],
    ['10.0.0.2', '198.51.100.1, 203.0.113.7', LB, '203.0.113.7'],
    ['10.0.0.2', '203.0.113.7, 10.0.0.5', LB, '203.0.113.7'],
    ['10.0.0.2', '203.0.113.7, 10.0.0.5, 192.168.1.7', LB, '203.0.113.7'],
    ['::ffff:10.0.0.2', '203.0.113.7', LB, '203.0.113.7'],
    ['fd00::2', '203.0.113.7', LB, '203.0.113.7'],
    ['10.0.0.2', '2001:db9::7', LB, '2001:db9::7'],
    ['10.0.0.2', '::ffff:203.0.113.7', LB, '203.0.113.7'],
    ['10.0.0.2', '  203.0.113.7 ,\t10.0.0.5 ', LB, '203.0.113.7'],
    ['10.0.0.2', ['198.51.100.1', '203.0.113.7'], LB, '203.0.113.7'],
    // ports some proxies add
    ['10.0.0.2', '203.0.113.7:4711', LB, '203.0.113.7'],
    ['10.0.0.2', '[2001:db9::7]:4711', LB, '2001:db9::7'],
    ['10.0.0.2', '[2001:db9::7]', LB, '2001:db9::7'],
    // every entry trusted: the leftmost is as far back as anyone can see
    ['10.0.0.2', '10.0.0.3, 10.0.0.5', LB, '10.0.0.3'],
    // an entry that is no address: the trusted hop that passed it on
    ['10.0.0.2', 'unknown, 10.0.0.5', LB, '10.0.0.5'],
    ['10.0.0.2', 'garbage', LB, '10.0.0.2'],
    ['10.0.0.2', '203.0.113.7,', LB, '10.0.0.2'],
    ['10.0.0.2', '203.0.113.7, , 10.0.0.5', LB, '10.0.0.5'],
    ['10.0.0.2', '[2001:db9::7', LB, '10.0.0.2'],
    ['10.0.0.2', '203.0.113.7:4711:1', LB, '10.0.0.2'],
  ])('peer %s, X-Forwarded-For %j: %#', (peer, xff, trusted, client) => {
    expect(clientAddress(peer, xff, trusted)).toBe(client);
  });
});

describe('forwardedHeaders', () => {
  const spoofed: Headers = {
    'x-forwarded-for': '198.51.100.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'admin.example',
    forwarded: 'for=198.51.100.1;proto=https',
    'x-real-ip': '198.51.100.1',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/admin',
    accept: '*/*',
  };

  function forward(
    incoming: Headers,
    peer: string,
    trusted = LB,
    encrypted = false,
    host = 'shop.example',
  ): Headers {
    const out = { ...incoming };
    forwardedHeaders(out, incoming, { peer, encrypted, host, trusted });
    return out;
  }

  it('replaces what an untrusted peer claims with what the gateway saw', () => {
    expect(forward(spoofed, '203.0.113.9')).toEqual({
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example',
      accept: '*/*',
    });
    for (const name of PEER_ONLY_HEADERS) expect(spoofed[name]).toBeDefined();
  });

  it("appends to a trusted peer's X-Forwarded-For and keeps what it says", () => {
    expect(forward(spoofed, '10.0.0.2')).toEqual({
      ...spoofed,
      'x-forwarded-for': '198.51.100.1, 10.0.0.2',
    });
  });

  it.each([
    [{}, '203.0.113.9', LB, false, 'shop.example', ['203.0.113.9', 'http', 'shop.example']],
    [{}, '203.0.113.9', LB, true, 'shop.example', ['203.0.113.9', 'https', 'shop.example']],
    [{}, '::ffff:203.0.113.9', LB, false, 'shop.example', ['203.0.113.9', 'http', 'shop.example']],
    [{}, '', LB, false, 'shop.example', ['', 'http', 'shop.example']],
    // HTTP/1.0 without Host: no X-Forwarded-Host at all
    [spoofed, '203.0.113.9', LB, false, '', ['203.0.113.9', 'http', undefined]],
    [{}, '10.0.0.2', LB, false, '', ['10.0.0.2', 'http', undefined]],
    // a trusted peer's values are kept only when valid
    [{ 'x-forwarded-proto': 'HTTPS' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'HTTPS', 'h']],
    [
      { 'x-forwarded-proto': 'https, http' },
      '10.0.0.2',
      LB,
      false,
      'h',
      ['10.0.0.2', 'https, http', 'h'],
    ],
    [{ 'x-forwarded-proto': 'javascript' }, '10.0.0.2', LB, true, 'h', ['10.0.0.2', 'https', 'h']],
    [{ 'x-forwarded-proto': 'https, ftp' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'http', 'h']],
    [{ 'x-forwarded-proto': 'https,' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'http', 'h']],
    [{ 'x-forwarded-proto': '' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'http', 'h']],
    [
      { 'x-forwarded-host': 'a.example, b.example' },
      '10.0.0.2',
      LB,
      false,
      'h',
      ['10.0.0.2', 'http', 'h'],
    ],
    [{ 'x-forwarded-host': 'user@evil' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'http', 'h']],
    [
      { 'x-forwarded-host': '[::1]:8443' },
      '10.0.0.2',
      LB,
      false,
      'h',
      ['10.0.0.2', 'http', '[::1]:8443'],
    ],
    [
      { 'x-forwarded-for': ['198.51.100.1', '198.51.100.2'] },
      '10.0.0.2',
      LB,
      false,
      'h',
      ['198.51.100.1, 198.51.100.2, 10.0.0.2', 'http', 'h'],
    ],
    [{ 'x-forwarded-for': '' }, '10.0.0.2', LB, false, 'h', ['10.0.0.2', 'http', 'h']],
    // nobody is trusted by default: a plain-HTTP client's X-Forwarded-Proto never gets through
    [spoofed, '10.0.0.2', NONE, false, 'h', ['10.0.0.2', 'http', 'h']],
  ])('%j from %s: %#', (incoming, peer, trusted, encrypted, host, [xff, proto, xfh]) => {
    const out = forward(incoming, peer, trusted, encrypted, host);
    expect([out['x-forwarded-for'], out['x-forwarded-proto'], out['x-forwarded-host']]).toEqual([
      xff,
      proto,
      xfh,
    ]);
  });
});
