// What the gateway reads of a request head before it routes: the request target, the
// path in its normal form, and the Host. Pure functions of strings; the plan turns a
// refusal into its answer. Every refusal is a shared constant, and a path already in
// normal form (most requests) comes back as the same string after one scan.
//
// The normal form of a path, which is what routes are matched against and what is
// forwarded (RFC 3986 §6.2.2, aligned with Envoy's normalize_path and merge_slashes):
// - Percent-escapes of unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded, so
//   /%61pi is /api and %2e%2e is '..'. Every other escape stays, with its hex digits
//   uppercased (/a%2fb is /a%2Fb), as Envoy and RFC 3986 §6.2.2.1 do. %2F and %5C are data
//   inside a segment, never a separator: Envoy's path_with_escaped_slashes_action
//   KEEP_UNCHANGED, its default.
// - Refused (400): a malformed escape (%zz, a lone %), %00 and raw control characters
//   (C strings end at NUL, some backends cut the path there), a raw backslash (Envoy and
//   browsers read it as '/', most servers as data: the two would route differently),
//   non-ASCII (Node's parser refuses such bytes anyway), '#' and '?' (fragment, query).
// - Raw characters outside RFC 3986's pchar that browsers send unescaped (" < > [ ] ^ `
//   { | } and space) are percent-encoded, so the forwarded path is a valid URI path that
//   decodes to the same bytes.
// - Runs of slashes are merged (Envoy's merge_slashes, on in Envoy Gateway; nginx's
//   merge_slashes, on by default): otherwise //admin slips past a PathPrefix /admin route
//   at the gateway and a monolith behind nginx serves it as /admin. Merging comes first,
//   so /a//../b is /b.
// - Dot segments '.' and '..' are resolved (RFC 3986 §5.2.4); a '..' above the root is
//   refused rather than clamped, and so is a dot segment with path parameters ('..;x',
//   which Tomcat resolves as '..'). A trailing slash is kept; /a/. and /a/b/.. are /a/.
// - Longer than MAX_PATH_LENGTH: 414 (RFC 9112 §3). Node's maxHeaderSize bounds the whole
//   head before that; this bounds the work of a caller that skips it.

import { parseIpInto } from '../api/index.js';

/** Longest path normalised; a longer one is answered 414 URI Too Long. */
export const MAX_PATH_LENGTH = 8192;
/** Longest Host: a 253-character DNS name, ':' and a five-digit port. */
export const MAX_HOST_LENGTH = 259;

export interface Refusal {
  readonly ok: false;
  /** 400, or 414 for an overlong path. */
  readonly status: 400 | 414;
  readonly reason: string;
}

function refusal(reason: string, status: 400 | 414 = 400): Refusal {
  return Object.freeze({ ok: false, status, reason });
}

export type RequestTarget =
  /** Origin-form, or absolute-form reduced to its path and query: routed by the path only. */
  | { readonly kind: 'origin'; readonly path: string; readonly query: string }
  /** `*`: OPTIONS asks about the server itself; any other method is refused. */
  | { readonly kind: 'asterisk' }
  | { readonly kind: 'invalid'; readonly reason: string };

function invalidTarget(reason: string): RequestTarget {
  return Object.freeze({ kind: 'invalid', reason });
}

const ASTERISK: RequestTarget = Object.freeze({ kind: 'asterisk' });
const TARGET_FRAGMENT = invalidTarget('the request target carries a fragment (#)');
const TARGET_FORM = invalidTarget(
  'the request target must be a path (/x), an absolute http(s) URL or *',
);
const TARGET_NO_HOST = invalidTarget('the absolute request target has no host');
const TARGET_USERINFO = invalidTarget('the absolute request target carries userinfo (user@)');

const SLASH = 47;
const QUESTION = 63;
const PERCENT = 37;
const DOT = 46;
const SEMICOLON = 59;
const COLON = 58;

/** The length of a leading `http://` or `https://` (any case), or 0. */
function httpSchemeLength(url: string): number {
  if (
    (url.charCodeAt(0) | 0x20) !== 104 /* h */ ||
    (url.charCodeAt(1) | 0x20) !== 116 /* t */ ||
    (url.charCodeAt(2) | 0x20) !== 116 /* t */ ||
    (url.charCodeAt(3) | 0x20) !== 112 /* p */
  ) {
    return 0;
  }
  const colon = (url.charCodeAt(4) | 0x20) === 115 /* s */ ? 5 : 4;
  return url.startsWith('://', colon) ? colon + 3 : 0;
}

/**
 * Splits a request target (RFC 9112 §3.2) into path and query (without '?'; '' when
 * absent). Absolute-form (`GET http://other.example/x`, which a client may send to any
 * server) yields its path and query only: the gateway routes by the path and keeps the
 * request's own Host. Authority-form (CONNECT) and anything else is invalid.
 */
export function parseRequestTarget(url: string): RequestTarget {
  const first = url.charCodeAt(0);
  if (first === SLASH) {
    if (url.indexOf('#') !== -1) return TARGET_FRAGMENT;
    const q = url.indexOf('?');
    return q === -1
      ? { kind: 'origin', path: url, query: '' }
      : { kind: 'origin', path: url.slice(0, q), query: url.slice(q + 1) };
  }
  if (url === '*') return ASTERISK;
  const scheme = httpSchemeLength(url);
  if (scheme === 0) return TARGET_FORM;
  if (url.indexOf('#') !== -1) return TARGET_FRAGMENT;
  let end = scheme;
  while (end < url.length) {
    const code = url.charCodeAt(end);
    if (code === SLASH || code === QUESTION) break;
    end += 1;
  }
  if (end === scheme) return TARGET_NO_HOST;
  // RFC 9110 §4.2.4: a recipient treats userinfo in an http(s) URI as an error.
  const at = url.indexOf('@', scheme);
  if (at !== -1 && at < end) return TARGET_USERINFO;
  if (end === url.length) return { kind: 'origin', path: '/', query: '' };
  if (url.charCodeAt(end) === QUESTION)
    return { kind: 'origin', path: '/', query: url.slice(end + 1) };
  const q = url.indexOf('?', end);
  return q === -1
    ? { kind: 'origin', path: url.slice(end), query: '' }
    : { kind: 'origin', path: url.slice(end, q), query: url.slice(q + 1) };
}

// What each ASCII character is in a path. Lookup tables built once at load.
/** Kept as it is: unreserved, sub-delims, ':' and '@' (RFC 3986 pchar, less '%'). */
const KEEP = 1;
/** Percent-encoded on the way through. */
const ENCODE = 2;
/** Refused. */
const REFUSE = 3;
const PATH_CHAR = new Uint8Array(128).fill(REFUSE);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@")
  PATH_CHAR[c.charCodeAt(0)] = KEEP;
for (const c of ' "<>[]^`{|}') PATH_CHAR[c.charCodeAt(0)] = ENCODE;

/** Unreserved characters (RFC 3986 §2.3): an escape of one is decoded. */
const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~')
  UNRESERVED[c.charCodeAt(0)] = 1;

/** Hex digit values, -1 for a non-digit; uppercase digits are also flagged by UPPER_HEX. */
const HEX_VALUE = new Int8Array(128).fill(-1);
const UPPER_HEX = new Uint8Array(128);
for (let i = 0; i < 16; i += 1) {
  const upper = '0123456789ABCDEF'.charCodeAt(i);
  HEX_VALUE[upper] = i;
  UPPER_HEX[upper] = 1;
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
}
const HEX_DIGITS = '0123456789ABCDEF';

function hexAt(path: string, index: number): number {
  const code = path.charCodeAt(index);
  return code < 128 ? (HEX_VALUE[code] as number) : -1;
}

const PATH_NOT_ABSOLUTE = refusal("the path must start with '/'");
const PATH_TOO_LONG = refusal(`the path is longer than ${MAX_PATH_LENGTH} characters`, 414);
const PATH_BAD_ESCAPE = refusal('the path has a malformed percent-escape (% and two hex digits)');
const PATH_NUL = refusal('the path contains NUL (%00)');
const PATH_CONTROL = refusal('the path contains a control character');
const PATH_BACKSLASH = refusal('the path contains a backslash; write / or %5C');
const PATH_NON_ASCII = refusal('the path contains a non-ASCII character; percent-encode it');
const PATH_FRAGMENT = refusal('the path carries a fragment (#)');
const PATH_QUERY = refusal("the path contains '?'; the query goes after the path");
const PATH_ABOVE_ROOT = refusal("the path climbs above the root with '..'");
const PATH_DOT_PARAMETERS = refusal("the path has a '.' or '..' segment with ';' parameters");

/**
 * Whether a path is already in normal form, in one scan that allocates nothing: every
 * character kept as it is, escapes uppercase and of reserved characters, no empty or dot
 * segment except a final empty one (the trailing slash). Any doubt sends it the slow way.
 */
function isNormal(path: string): boolean {
  const length = path.length;
  if (length === 0 || length > MAX_PATH_LENGTH || path.charCodeAt(0) !== SLASH) return false;
  let segmentStart = 1;
  for (let i = 1; i < length; i += 1) {
    const code = path.charCodeAt(i);
    if (code === SLASH) {
      const segment = i - segmentStart;
      if (segment === 0) return false;
      if (segment <= 2 && path.charCodeAt(segmentStart) === DOT) {
        if (segment === 1 || path.charCodeAt(segmentStart + 1) === DOT) return false;
      }
      segmentStart = i + 1;
    } else if (code === PERCENT) {
      if (i + 2 >= length) return false;
      const high = path.charCodeAt(i + 1);
      const low = path.charCodeAt(i + 2);
      if (high >= 128 || low >= 128 || UPPER_HEX[high] === 0 || UPPER_HEX[low] === 0) return false;
      const value = (HEX_VALUE[high] as number) * 16 + (HEX_VALUE[low] as number);
      if (value === 0 || (value < 128 && UNRESERVED[value] === 1)) return false;
      i += 2;
    } else if (code >= 128 || PATH_CHAR[code] !== KEEP) {
      return false;
    } else if (code === SEMICOLON && path.charCodeAt(segmentStart) === DOT) {
      return false;
    }
  }
  const last = length - segmentStart;
  if (last > 0 && last <= 2 && path.charCodeAt(segmentStart) === DOT) {
    if (last === 1 || path.charCodeAt(segmentStart + 1) === DOT) return false;
  }
  return true;
}

/** A segment that is '.' or '..' followed by ';' parameters, which Tomcat reads as the dot segment. */
function isDotWithParameters(segment: string): boolean {
  return segment.startsWith('.;') || segment.startsWith('..;');
}

/** The slow way: decode, encode, merge slashes and resolve dot segments; or a refusal. */
function normalizeSlow(path: string): string | Refusal {
  const length = path.length;
  if (length === 0 || path.charCodeAt(0) !== SLASH) return PATH_NOT_ABSOLUTE;
  if (length > MAX_PATH_LENGTH) return PATH_TOO_LONG;
  const segments: string[] = [];
  let trailingSlash = false;
  let segment = '';
  for (let i = 1; i <= length; i += 1) {
    const code = i === length ? SLASH : path.charCodeAt(i);
    if (code === SLASH) {
      trailingSlash = segment === '' || segment === '.' || segment === '..';
      if (segment === '..') {
        if (segments.pop() === undefined) return PATH_ABOVE_ROOT;
      } else if (!trailingSlash) {
        if (isDotWithParameters(segment)) return PATH_DOT_PARAMETERS;
        segments.push(segment);
      }
      segment = '';
    } else if (code === PERCENT) {
      const high = hexAt(path, i + 1);
      const low = hexAt(path, i + 2);
      if (high < 0 || low < 0) return PATH_BAD_ESCAPE;
      const value = high * 16 + low;
      if (value === 0) return PATH_NUL;
      segment +=
        value < 128 && UNRESERVED[value] === 1
          ? String.fromCharCode(value)
          : `%${HEX_DIGITS[high] as string}${HEX_DIGITS[low] as string}`;
      i += 2;
    } else if (code >= 128) {
      return PATH_NON_ASCII;
    } else {
      const kind = PATH_CHAR[code];
      if (kind === KEEP) segment += path[i] as string;
      else if (kind === ENCODE)
        segment += `%${HEX_DIGITS[code >> 4] as string}${HEX_DIGITS[code & 15] as string}`;
      else if (code === 92 /* \ */) return PATH_BACKSLASH;
      else if (code === 35 /* # */) return PATH_FRAGMENT;
      else if (code === QUESTION) return PATH_QUERY;
      else return PATH_CONTROL;
    }
  }
  if (segments.length === 0) return '/';
  const joined = `/${segments.join('/')}`;
  return trailingSlash ? `${joined}/` : joined;
}

/**
 * The normal form of a path (see the top of this file), which is both what is matched and
 * what is forwarded, or the reason it is refused (status 400, or 414 when overlong). A
 * path already in normal form is returned as the same string.
 */
export function normalizePath(path: string): { ok: true; path: string } | Refusal {
  if (isNormal(path)) return { ok: true, path };
  const normal = normalizeSlow(path);
  return typeof normal === 'string' ? { ok: true, path: normal } : normal;
}

const HOST_DUPLICATE = refusal('the request has more than one Host header');
const HOST_EMPTY = refusal('the Host header is empty');
const HOST_TOO_LONG = refusal(`the Host header is longer than ${MAX_HOST_LENGTH} characters`);
const HOST_INVALID = refusal(
  'the Host header must be a DNS name, an IPv4 address or a [bracketed] IPv6 address, with an optional :port',
);
const HOST_ABSENT = Object.freeze({ ok: true, value: '' } as const);

/** A DNS name's characters as Host carries them (letters, digits, '-', '.', '_'). */
const NAME_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._')
  NAME_CHAR[c.charCodeAt(0)] = 1;

/** The port after a ':' at text[start..]: 1-5 digits up to 65535. */
function validPort(text: string, start: number): boolean {
  const digits = text.length - start;
  if (digits < 1 || digits > 5) return false;
  let value = 0;
  for (let i = start; i < text.length; i += 1) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    value = value * 10 + digit;
  }
  return value <= 65535;
}

const ipv6Scratch = new Uint32Array(4);

/** Why a Host value is refused, or undefined when it is valid. */
function hostRefusal(value: string): Refusal | undefined {
  const length = value.length;
  if (length === 0) return HOST_EMPTY;
  if (length > MAX_HOST_LENGTH) return HOST_TOO_LONG;
  let i = 0;
  if (value.charCodeAt(0) === 91 /* [ */) {
    // IPv6 only: not IPv4, no zone (RFC 9110 has none in Host), no IPvFuture.
    const close = value.indexOf(']');
    const colon = value.indexOf(':');
    if (close === -1 || colon === -1 || colon > close) return HOST_INVALID;
    if (parseIpInto(value, 1, close, ipv6Scratch) === 0) return HOST_INVALID;
    i = close + 1;
  } else {
    while (i < length) {
      const code = value.charCodeAt(i);
      if (code === COLON) break;
      if (code >= 128 || NAME_CHAR[code] === 0) return HOST_INVALID;
      i += 1;
    }
    if (i === 0) return HOST_INVALID;
  }
  if (i === length) return undefined;
  if (value.charCodeAt(i) !== COLON || !validPort(value, i + 1)) return HOST_INVALID;
  return undefined;
}

/** Whether a value is a valid Host (and so a valid X-Forwarded-Host). */
export function isValidHost(value: string): boolean {
  return hostRefusal(value) === undefined;
}

/**
 * The Host of a request from Node's rawHeaders (name, value, name, value, …), where a
 * duplicate is still visible: Node keeps the first Host in req.headers and drops the
 * rest, while another server in the chain may read the last. More than one Host, or an
 * invalid one, is refused (RFC 9112 §3.2). No Host gives '': Node answers HTTP/1.1
 * requests without one 400 itself (requireHostHeader), so that is HTTP/1.0.
 */
export function hostOf(rawHeaders: readonly string[]): { ok: true; value: string } | Refusal {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (
      name.length === 4 &&
      (name.charCodeAt(0) | 0x20) === 104 /* h */ &&
      (name.charCodeAt(1) | 0x20) === 111 /* o */ &&
      (name.charCodeAt(2) | 0x20) === 115 /* s */ &&
      (name.charCodeAt(3) | 0x20) === 116 /* t */
    ) {
      if (host !== undefined) return HOST_DUPLICATE;
      host = rawHeaders[i + 1];
    }
  }
  if (host === undefined) return HOST_ABSENT;
  return hostRefusal(host) ?? { ok: true, value: host };
}
