// What the gateway changes on a request and a response on the way through. Pure
// functions of plain header objects, so each rule is unit-tested without a socket.
import { randomUUID } from 'node:crypto';
import type { CompiledRoute } from '../api/index.js';
import { forwardedHeaders, type ForwardingContext } from './forwarded.js';
import { normalizePrefix } from './matcher.js';

export type Headers = Record<string, string | string[] | undefined>;
export type HeaderModifier = NonNullable<CompiledRoute['requestHeaders']>;

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message,
 * so a proxy must not forward them. `host` is set per backend and `content-length` is
 * kept: both are end-to-end but handled explicitly.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Expect: 100-continue is answered by the gateway's own server; forwarding it would ask
  // the upstream for a second interim response the client never waits for.
  'expect',
]);

/** Header names listed in a Connection header, which are hop-by-hop for that message too. */
export function connectionTokens(connection: string | string[] | undefined): string[] {
  if (connection === undefined) return [];
  const text = Array.isArray(connection) ? connection.join(',') : connection;
  const tokens: string[] = [];
  for (const part of text.split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '' && token !== 'close' && token !== 'keep-alive') tokens.push(token);
  }
  return tokens;
}

/** Copies headers without the hop-by-hop ones. */
export function endToEndHeaders(headers: Headers): Headers {
  const out: Headers = {};
  const extra = headers.connection === undefined ? undefined : connectionTokens(headers.connection);
  for (const name in headers) {
    if (HOP_BY_HOP.has(name)) continue;
    if (extra !== undefined && extra.length > 0 && extra.includes(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** Applies a header modifier in place: remove, then set, then add. */
export function applyHeaderModifier(headers: Headers, modifier: HeaderModifier | undefined): void {
  if (modifier === undefined) return;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- header names are data
  for (const name of modifier.remove) delete headers[name.toLowerCase()];
  for (const name in modifier.set) headers[name.toLowerCase()] = modifier.set[name];
  for (const name in modifier.add) {
    const key = name.toLowerCase();
    const value = modifier.add[name] as string;
    const existing = headers[key];
    if (existing === undefined) headers[key] = value;
    else if (Array.isArray(existing)) headers[key] = [...existing, value];
    else headers[key] = [existing, value];
  }
}

const REQUEST_ID_MAX = 200;
const REQUEST_ID_OK = /^[\x21-\x7e]+$/;

/** The incoming x-request-id when it is sane (printable, bounded), else a fresh one. */
export function requestId(incoming: string | string[] | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  if (value !== undefined && value.length <= REQUEST_ID_MAX && REQUEST_ID_OK.test(value)) {
    return value;
  }
  return randomUUID();
}

export interface ForwardContext extends ForwardingContext {
  requestId: string;
}

/**
 * The headers sent upstream, before the route's stages: end-to-end headers of the client
 * request, X-Forwarded-* under the trust model of forwarded.ts, and the request id. Host
 * is set per attempt (each backend has its own); traceparent/tracestate pass through
 * untouched.
 */
export function upstreamRequestHeaders(incoming: Headers, ctx: ForwardContext): Headers {
  const out = endToEndHeaders(incoming);
  forwardedHeaders(out, incoming, ctx);
  out['x-request-id'] = ctx.requestId;
  return out;
}

/** How a route rewrites paths, prepared once per config. */
export type PathRewrite =
  | { kind: 'none' }
  | { kind: 'prefix'; matched: string; replacement: string }
  | { kind: 'full'; path: string };

export function planRewrite(route: Pick<CompiledRoute, 'match' | 'rewrite'>): PathRewrite {
  const rewrite = route.rewrite;
  if (rewrite === undefined) return { kind: 'none' };
  if ('fullPath' in rewrite) return { kind: 'full', path: rewrite.fullPath };
  return {
    kind: 'prefix',
    matched: normalizePrefix(route.match.path.value),
    replacement: rewrite.pathPrefix,
  };
}

/** The path after the route's rewrite (the query string is not part of it). */
export function rewritePath(rewrite: PathRewrite, path: string): string {
  if (rewrite.kind === 'full') return rewrite.path;
  if (rewrite.kind === 'none') return path;
  const rest = path.slice(rewrite.matched.length);
  // Avoid '//' when the replacement ends with '/' and the rest starts with one.
  const rewritten =
    rewrite.replacement.endsWith('/') && rest.startsWith('/')
      ? rewrite.replacement + rest.slice(1)
      : rewrite.replacement + rest;
  return rewritten === '' ? '/' : rewritten;
}

/** Methods whose requests may be sent twice (RFC 9110 §9.2.2). */
export const IDEMPOTENT: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
]);

/** Whether a request carries a body, which the gateway streams and so can never replay. */
export function hasBody(headers: Headers): boolean {
  const length = headers['content-length'];
  if (length !== undefined && length !== '0') return true;
  return headers['transfer-encoding'] !== undefined;
}
