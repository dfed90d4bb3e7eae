// The IP and CIDR grammar shared by the schema (trustedProxies) and the gateway (peers,
// X-Forwarded-For). Node's own parser (net.isIP) is the reference for what an address is.
import { isIP } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseCidr, parseIpInto } from '../../../src/api/index.js';

function parse(text: string): { family: number; words: number[] } {
  const out = new Uint32Array(4);
  const family = parseIpInto(text, 0, text.length, out);
  return { family, words: Array.from(out) };
}

describe('parseIpInto', () => {
  it.each([
    ['10.0.0.1', 4, [0, 0, 0xffff, 0x0a000001]],
    ['0.0.0.0', 4, [0, 0, 0xffff, 0]],
    ['255.255.255.255', 4, [0, 0, 0xffff, 0xffffffff]],
    ['::ffff:10.0.0.1', 4, [0, 0, 0xffff, 0x0a000001]],
    ['::FFFF:a00:1', 4, [0, 0, 0xffff, 0x0a000001]],
    ['::', 6, [0, 0, 0, 0]],
    ['::1', 6, [0, 0, 0, 1]],
    ['2001:db8::1', 6, [0x20010db8, 0, 0, 1]],
    ['2001:DB8:0:0:8:800:200C:417A', 6, [0x20010db8, 0, 0x80800, 0x200c417a]],
    ['1::', 6, [0x10000, 0, 0, 0]],
    ['1:2:3:4:5:6:7::', 6, [0x10002, 0x30004, 0x50006, 0x70000]],
    ['::2:3:4:5:6:7:8', 6, [2, 0x30004, 0x50006, 0x70008]],
    ['64:ff9b::192.0.2.33', 6, [0x0064ff9b, 0, 0, 0xc0000221]],
    ['::1.2.3.4', 6, [0, 0, 0, 0x01020304]],
  ])('reads %s as family %i', (text, family, words) => {
    expect(parse(text)).toEqual({ family, words });
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '010.0.0.1',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    'a.b.c.d',
    ':',
    ':::',
    ':1',
    '1:',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3',
    '::1.2.3.4:5',
    'fe80::1%eth0',
    '[::1]',
    'unknown',
    'localhost',
  ])('refuses %j', (text) => {
    expect(parse(text).family).toBe(0);
  });

  it('reads a range of a longer string, as X-Forwarded-For entries are read', () => {
    const out = new Uint32Array(4);
    expect(parseIpInto('x, 203.0.113.7, y', 3, 14, out)).toBe(4);
    expect(out[3]).toBe(0xcb007107);
  });

  it('agrees with Node on which strings are addresses', () => {
    const chars = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''));
    const candidates = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.array(chars, { maxLength: 45 }).map((c) => c.join('')),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        expect({ text, address: parse(text).family !== 0 }).toEqual({
          text,
          address: isIP(text) !== 0,
        });
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', 4, [0x0a000000], 8],
    ['10.0.0.7', 4, [0x0a000007], 32],
    ['0.0.0.0/0', 4, [0], 0],
    ['192.168.1.7/32', 4, [0xc0a80107], 32],
    ['fd00::/8', 6, [0xfd000000, 0, 0, 0], 8],
    ['::/0', 6, [0, 0, 0, 0], 0],
    ['::1', 6, [0, 0, 0, 1], 128],
    ['2001:db8:0:0:8000::/65', 6, [0x20010db8, 0, 0x80000000, 0], 65],
  ])('reads %s', (text, family, words, prefix) => {
    expect(parseCidr(text)).toEqual({ ok: true, cidr: { family, words, prefix } });
  });

  it.each([
    ['10.0.0.0/33', '"10.0.0.0/33" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['fd00::/129', '"fd00::/129" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['10.0.0.0/08', '"10.0.0.0/08" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['10.0.0.0/', '"10.0.0.0/" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['10/8', '"10/8" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['fe80::/10%eth0', '"fe80::/10%eth0" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    ['fe80::%eth0/10', '"fe80::%eth0/10" is not a CIDR; use e.g. 10.0.0.0/8 or fd00::/8'],
    [
      '10.1.2.3/8',
      '"10.1.2.3/8" has bits set after the /8 prefix; use 10.0.0.0/8, or 10.1.2.3/32 for the one address',
    ],
    [
      'fd00::1/8',
      '"fd00::1/8" has bits set after the /8 prefix; use fd00::/8, or fd00::1/128 for the one address',
    ],
    [
      '2001:db8:1:2:3:4:5:6/48',
      '"2001:db8:1:2:3:4:5:6/48" has bits set after the /48 prefix; use 2001:db8:1::/48, or 2001:db8:1:2:3:4:5:6/128 for the one address',
    ],
    [
      '::ffff:10.0.0.0/104',
      '"::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 range; write the IPv4 range instead, e.g. 10.0.0.0/8 (IPv4 peers match it whichever notation the socket reports)',
    ],
  ])('refuses %s', (text, message) => {
    expect(parseCidr(text)).toEqual({ ok: false, message });
  });
});
