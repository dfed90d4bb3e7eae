// IP addresses and CIDR ranges, as spec.gateway.trustedProxies writes them and as the
// gateway reads socket peers and X-Forwarded-For entries. One grammar for both, so the
// schema never accepts a range the gateway reads differently.
//
// The address parser is on the gateway's hot path: it reads a range of a string into a
// caller's Uint32Array and allocates nothing.

/** 0: not an address; 4: IPv4 (also an IPv4-mapped IPv6 address); 6: IPv6. */
export type IpFamily = 0 | 4 | 6;

const DOT = 46;
const COLON = 58;
const ZERO = 48;

/** The value of a hex digit, or -1. */
function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * A dotted-quad IPv4 address in text[start, end) as an unsigned 32-bit number, or -1.
 * Strict, like Go's netip and Kubernetes: four decimal octets, no leading zeros (010 is
 * octal to some parsers and decimal to others).
 */
export function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const first = i;
    let octet = 0;
    while (i < end) {
      const digit = text.charCodeAt(i) - ZERO;
      if (digit < 0 || digit > 9) break;
      octet = octet * 10 + digit;
      i += 1;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && text.charCodeAt(first) === ZERO) return -1;
    value = value * 256 + octet;
    parts += 1;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== DOT) return -1;
      i += 1;
    }
  }
  return i === end ? value : -1;
}

/** Groups of the IPv6 address being parsed; module scope so parsing allocates nothing. */
const groups = new Uint16Array(8);

/** An IPv6 address in text[start, end) into out[0..3] (most significant word first). */
function parseIpv6(text: string, start: number, end: number, out: Uint32Array): boolean {
  let count = 0;
  let gap = -1;
  let i = start;
  if (end - start >= 2 && text.charCodeAt(i) === COLON && text.charCodeAt(i + 1) === COLON) {
    gap = 0;
    i += 2;
  }
  while (i < end) {
    const first = i;
    let group = 0;
    while (i < end && i - first < 5) {
      const digit = hexValue(text.charCodeAt(i));
      if (digit < 0) break;
      group = group * 16 + digit;
      i += 1;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      // An embedded IPv4 address takes the last two groups.
      if (count > 6) return false;
      const ipv4 = parseIpv4(text, first, end);
      if (ipv4 < 0) return false;
      groups[count] = ipv4 >>> 16;
      groups[count + 1] = ipv4 & 0xffff;
      count += 2;
      break;
    }
    const digits = i - first;
    if (digits === 0 || digits > 4 || count === 8) return false;
    groups[count] = group;
    count += 1;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i += 1;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (gap !== -1) return false;
      gap = count;
      i += 1;
    } else if (i === end) {
      return false;
    }
  }
  // '::' stands for at least one group of zeros.
  if (gap === -1 ? count !== 8 : count > 7) return false;
  const zeros = 8 - count;
  for (let word = 0; word < 4; word += 1) {
    let value = 0;
    for (let half = 0; half < 2; half += 1) {
      const index = word * 2 + half;
      let group = 0;
      if (gap === -1 || index < gap) group = groups[index] as number;
      else if (index >= gap + zeros) group = groups[index - zeros] as number;
      value = value * 0x10000 + group;
    }
    out[word] = value;
  }
  return true;
}

/**
 * Reads the address in text[start, end) into out as 128 bits, most significant word
 * first. IPv4 addresses, and IPv6 addresses of the IPv4-mapped range ::ffff:0:0/96 (how a
 * dual-stack socket reports an IPv4 peer), are family 4 with the IPv4 address in out[3]:
 * they are the same client. No zone (%eth0): the caller strips a socket peer's.
 */
export function parseIpInto(text: string, start: number, end: number, out: Uint32Array): IpFamily {
  // The first separator tells the families apart: '2001:db8::1' has digits before a ':'.
  for (let i = start; i < end; i += 1) {
    const code = text.charCodeAt(i);
    if (code === DOT) {
      const ipv4 = parseIpv4(text, start, end);
      if (ipv4 < 0) return 0;
      out[0] = 0;
      out[1] = 0;
      out[2] = 0xffff;
      out[3] = ipv4;
      return 4;
    }
    if (code === COLON) {
      if (!parseIpv6(text, start, end, out)) return 0;
      return out[0] === 0 && out[1] === 0 && out[2] === 0xffff ? 4 : 6;
    }
  }
  return 0;
}

/** A parsed CIDR range: the network's words (IPv4: one, IPv6: four) and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  /** The network address, host bits zero: [ipv4] or four 32-bit words of the IPv6 address. */
  readonly words: readonly number[];
  /** Prefix length within the family: 0-32 or 0-128. */
  readonly prefix: number;
}

/** The mask of the bits of a 32-bit word that a prefix of `bits` (0-32) covers. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** How many bits of word `index` a prefix of length `prefix` covers. */
export function wordBits(prefix: number, index: number): number {
  return Math.max(0, Math.min(32, prefix - index * 32));
}

const scratch = new Uint32Array(4);
const EXAMPLE = 'use e.g. 10.0.0.0/8 or fd00::/8';

function notCidr(text: string): string {
  return `${JSON.stringify(text)} is not a CIDR; ${EXAMPLE}`;
}

/** A decimal prefix length of 1-3 digits without leading zeros, or -1. */
function prefixLength(text: string, start: number): number {
  const digits = text.length - start;
  if (digits < 1 || digits > 3) return -1;
  if (digits > 1 && text.charCodeAt(start) === ZERO) return -1;
  let value = 0;
  for (let i = start; i < text.length; i += 1) {
    const digit = text.charCodeAt(i) - ZERO;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 text of an IPv6 address: lowercase, no leading zeros, the longest zero run as '::'. */
function formatIpv6(words: readonly number[]): string {
  const parts: number[] = [];
  for (const word of words) parts.push(word >>> 16, word & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && parts[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) =>
    parts
      .slice(from, to)
      .map((p) => p.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Parses a CIDR range (10.0.0.0/8, fd00::/8) or a single address (10.0.0.1, meaning /32
 * or /128). Refused, each with the fix in the message: anything else, host bits set after
 * the prefix (10.0.0.1/8 is a typo for 10.0.0.0/8 or 10.0.0.1/32), and IPv4-mapped IPv6
 * ranges (IPv4 peers are matched by IPv4 ranges, whatever notation the socket uses).
 */
export function parseCidr(text: string): { ok: true; cidr: Cidr } | { ok: false; message: string } {
  const slash = text.indexOf('/');
  const end = slash === -1 ? text.length : slash;
  const family = parseIpInto(text, 0, end, scratch);
  if (family === 0) return { ok: false, message: notCidr(text) };
  const colon = text.indexOf(':');
  if (family === 4 && colon !== -1 && colon < end) {
    return {
      ok: false,
      message: `${JSON.stringify(text)} is an IPv4-mapped IPv6 range; write the IPv4 range instead, e.g. 10.0.0.0/8 (IPv4 peers match it whichever notation the socket reports)`,
    };
  }
  const max = family === 4 ? 32 : 128;
  const prefix = slash === -1 ? max : prefixLength(text, slash + 1);
  if (prefix < 0 || prefix > max) return { ok: false, message: notCidr(text) };
  const words = family === 4 ? [scratch[3] as number] : Array.from(scratch);
  let hostBits = false;
  for (let index = 0; index < words.length; index += 1) {
    const masked = ((words[index] as number) & wordMask(wordBits(prefix, index))) >>> 0;
    if (masked !== words[index]) hostBits = true;
    words[index] = masked;
  }
  if (hostBits) {
    const network = family === 4 ? formatIpv4(words[0] as number) : formatIpv6(words);
    return {
      ok: false,
      message: `${JSON.stringify(text)} has bits set after the /${prefix} prefix; use ${network}/${prefix}, or ${text.slice(0, end)}/${max} for the one address`,
    };
  }
  return { ok: true, cidr: { family, words, prefix } };
}
