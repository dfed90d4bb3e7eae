// Who the client is, and what the upstream hears about it, under one trust model: what a
// peer says about earlier hops (X-Forwarded-For, -Proto, -Host) is believed only when the
// peer is a trusted proxy (spec.gateway.trustedProxies, e.g. the load balancer). Compare
// nginx's set_real_ip_from with real_ip_recursive on, Envoy's xff_num_trusted_hops and
// Traefik's forwardedHeaders.trustedIPs.
//
// From an untrusted peer: X-Forwarded-For is the peer's address alone, Proto and Host
// are what the gateway saw, and the client is the peer, so no client picks its own
// clientIp cohort or makes a plain-HTTP request look like HTTPS to the upstream.
// From a trusted peer: X-Forwarded-For is appended to, Proto and Host are kept when
// valid, and the client is the rightmost X-Forwarded-For entry that is not itself a
// trusted proxy: each entry to the right of it was written by a proxy we trust.
//
// Addresses of IPv4 clients are written as IPv4 (10.0.0.1), also when a dual-stack
// socket reports them IPv4-mapped (::ffff:10.0.0.1), so a client has one address and one
// cohort whichever way the gateway listens.
import { parseCidr, parseIpInto, wordBits, wordMask } from '../api/index.js';
import { isValidHost } from './request-head.js';

type Headers = Record<string, string | string[] | undefined>;

/** Reused by every address parse: parsing allocates nothing. */
const scratch = new Uint32Array(4);

/** What an address is to the trust model. */
export const NOT_AN_ADDRESS = 0;
export const UNTRUSTED = 1;
export const TRUSTED = 2;
export type AddressTrust = typeof NOT_AN_ADDRESS | typeof UNTRUSTED | typeof TRUSTED;

/** The peers whose forwarding headers are believed, compiled once per config. */
export class TrustedProxies {
  /** IPv4 ranges as (network, mask) pairs. */
  private readonly v4: Uint32Array;
  /** IPv6 ranges as four network words, then four mask words. */
  private readonly v6: Uint32Array;
  private readonly empty: boolean;

  constructor(v4: Uint32Array, v6: Uint32Array) {
    this.v4 = v4;
    this.v6 = v6;
    this.empty = v4.length === 0 && v6.length === 0;
  }

  /** Whether an address (IPv4, IPv6, IPv4-mapped, with or without a %zone) is trusted. */
  contains(address: string): boolean {
    if (this.empty) return false;
    const zone = address.indexOf('%');
    return this.classify(address, 0, zone === -1 ? address.length : zone) === TRUSTED;
  }

  /** What the address in text[start, end) is: not an address, untrusted or trusted. */
  classify(text: string, start: number, end: number): AddressTrust {
    const family = parseIpInto(text, start, end, scratch);
    if (family === 0) return NOT_AN_ADDRESS;
    if (family === 4) {
      const address = scratch[3] as number;
      const v4 = this.v4;
      for (let i = 0; i < v4.length; i += 2) {
        if ((address & (v4[i + 1] as number)) >>> 0 === v4[i]) return TRUSTED;
      }
      return UNTRUSTED;
    }
    const v6 = this.v6;
    for (let i = 0; i < v6.length; i += 8) {
      if (
        ((scratch[0] as number) & (v6[i + 4] as number)) >>> 0 === v6[i] &&
        ((scratch[1] as number) & (v6[i + 5] as number)) >>> 0 === v6[i + 1] &&
        ((scratch[2] as number) & (v6[i + 6] as number)) >>> 0 === v6[i + 2] &&
        ((scratch[3] as number) & (v6[i + 7] as number)) >>> 0 === v6[i + 3]
      ) {
        return TRUSTED;
      }
    }
    return UNTRUSTED;
  }
}

/**
 * Compiles spec.gateway.trustedProxies (route table `trustedProxies`): CIDRs or single
 * addresses, IPv4 or IPv6. The schema has validated them; one that fails here is a bug.
 */
export function compileTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  const v4: number[] = [];
  const v6: number[] = [];
  for (const text of cidrs) {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(`trustedProxies: ${parsed.message}`);
    const { family, words, prefix } = parsed.cidr;
    if (family === 4) {
      v4.push(words[0] as number, wordMask(prefix));
    } else {
      v6.push(...words);
      for (let index = 0; index < 4; index += 1) v6.push(wordMask(wordBits(prefix, index)));
    }
  }
  return new TrustedProxies(Uint32Array.from(v4), Uint32Array.from(v6));
}

/** An IPv4-mapped address (::ffff:10.0.0.1) as IPv4; any other address as it is. */
function clientForm(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */ && address.indexOf('.') !== -1) {
    // Not ::ffff:0:1.2.3.4 (IPv4-translated, an IPv6 address).
    const lower = address.slice(0, 7).toLowerCase();
    if (lower === '::ffff:' && address.indexOf(':', 7) === -1) return address.slice(7);
  }
  return address;
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

/**
 * The client's address: the socket peer when it is not a trusted proxy; else, walking
 * X-Forwarded-For from the right, the first entry that is not a trusted proxy. When every
 * entry is trusted, the leftmost; when an entry is not an address (`unknown`, garbage, an
 * empty list item), the trusted hop that passed it on. Entries may carry a port
 * (203.0.113.7:4711, [2001:db8::7]:4711), which is dropped.
 */
export function clientAddress(
  peer: string,
  xff: string | string[] | undefined,
  trusted: TrustedProxies,
): string {
  if (!trusted.contains(peer)) return clientForm(peer);
  const header = xff === undefined ? '' : typeof xff === 'string' ? xff : xff.join(',');
  // The closest trusted hop so far: the peer, then header[hopStart, hopEnd).
  let hopStart = -1;
  let hopEnd = -1;
  let end = header.length;
  while (end > 0) {
    // One backward scan over the entry: where it starts, its colons and its ']'.
    let comma = end - 1;
    let colons = 0;
    let colon = -1;
    let close = -1;
    for (; comma >= 0; comma -= 1) {
      const code = header.charCodeAt(comma);
      if (code === 44 /* , */) break;
      if (code === 58 /* : */) {
        colons += 1;
        colon = comma;
      } else if (code === 93 /* ] */ && close === -1) {
        close = comma;
      }
    }
    let start = comma + 1;
    let stop = end;
    while (start < stop && isSpace(header.charCodeAt(start))) start += 1;
    while (stop > start && isSpace(header.charCodeAt(stop - 1))) stop -= 1;
    if (header.charCodeAt(start) === 91 /* [ */) {
      // [IPv6] or [IPv6]:port
      if (close === -1) break;
      start += 1;
      stop = close;
    } else if (colons === 1) {
      // IPv4:port; an IPv6 address has at least two colons.
      stop = colon;
    }
    const trust = trusted.classify(header, start, stop);
    if (trust === NOT_AN_ADDRESS) break;
    if (trust === UNTRUSTED) return clientForm(header.slice(start, stop));
    hopStart = start;
    hopEnd = stop;
    end = comma < 0 ? 0 : comma;
  }
  return hopStart === -1 ? clientForm(peer) : clientForm(header.slice(hopStart, hopEnd));
}

/** Whether text[start, end) is `http` or `https`, in any case. */
function isHttpScheme(text: string, start: number, end: number): boolean {
  const length = end - start;
  return (
    (length === 4 || (length === 5 && (text.charCodeAt(start + 4) | 0x20) === 115)) /* s */ &&
    (text.charCodeAt(start) | 0x20) === 104 /* h */ &&
    (text.charCodeAt(start + 1) | 0x20) === 116 /* t */ &&
    (text.charCodeAt(start + 2) | 0x20) === 116 /* t */ &&
    (text.charCodeAt(start + 3) | 0x20) === 112 /* p */
  );
}

/** Whether X-Forwarded-Proto is `http` or `https`, or a comma-separated list of them. */
function validProto(value: string): boolean {
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    let s = start;
    let e = end;
    while (s < e && isSpace(value.charCodeAt(s))) s += 1;
    while (e > s && isSpace(value.charCodeAt(e - 1))) e -= 1;
    if (!isHttpScheme(value, s, e)) return false;
    start = end + 1;
  }
  return true;
}

/**
 * Headers that also speak for earlier hops and that the gateway does not set itself:
 * believed from trusted peers only, dropped from others (as Traefik does). `forwarded` is
 * RFC 7239's form of X-Forwarded-*; x-real-ip is nginx's client address header.
 */
export const PEER_ONLY_HEADERS: readonly string[] = [
  'forwarded',
  'x-real-ip',
  'x-forwarded-port',
  'x-forwarded-prefix',
];

export interface ForwardingContext {
  /** The socket peer's address ('' when the socket is already gone). */
  peer: string;
  /** Whether the client connection to the gateway is TLS. */
  encrypted: boolean;
  /** The request's Host as validated by hostOf ('' when there is none). */
  host: string;
  trusted: TrustedProxies;
}

/**
 * Sets X-Forwarded-For, -Proto and -Host on `out` (the headers going upstream, copied
 * from `incoming`) per the trust model above, and drops PEER_ONLY_HEADERS when the peer
 * is not trusted.
 */
export function forwardedHeaders(out: Headers, incoming: Headers, ctx: ForwardingContext): void {
  const trusted = ctx.trusted.contains(ctx.peer);
  const peer = clientForm(ctx.peer);
  const xff = trusted ? incoming['x-forwarded-for'] : undefined;
  const prior = Array.isArray(xff) ? xff.join(', ') : xff;
  out['x-forwarded-for'] = prior !== undefined && prior !== '' ? `${prior}, ${peer}` : peer;
  const proto = trusted ? incoming['x-forwarded-proto'] : undefined;
  out['x-forwarded-proto'] =
    typeof proto === 'string' && validProto(proto) ? proto : ctx.encrypted ? 'https' : 'http';
  const host = trusted ? incoming['x-forwarded-host'] : undefined;
  if (typeof host === 'string' && isValidHost(host)) out['x-forwarded-host'] = host;
  else if (ctx.host !== '') out['x-forwarded-host'] = ctx.host;
  else delete out['x-forwarded-host'];
  if (trusted) return;
  for (let i = 0; i < PEER_ONLY_HEADERS.length; i += 1) {
    const name = PEER_ONLY_HEADERS[i] as string;
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- header names are data
    if (incoming[name] !== undefined) delete out[name];
  }
}
