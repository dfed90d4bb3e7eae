// The cache's pure decisions: whether a request may use the cache at all (method, body,
// credentials), whose entry it is (the key), which request headers a response varies on,
// and how fresh an entry is once the route's ttl caps what the upstream allowed. RFC 9111
// itself (storability, freshness, validators) is http-cache-semantics' job, not ours.
import { hash } from 'node:crypto';
import type { CompiledCache, CompiledRoute } from '../../api/index.js';
import { canonicalJson } from '../../api/index.js';
import type { Headers } from '../transforms.js';

/** The only methods cached (RFC 9110 §9.2.3 allows POST, with explicit freshness; we do not). */
export function cacheableMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** What the cache needs to know about who is asking. */
export interface Caller {
  /** The Authorization header going upstream, if any. */
  readonly authorization: string | string[] | undefined;
  /** Verified JWT claims (the jwt stage). */
  readonly claims: Record<string, unknown> | undefined;
  /** The API-key consumer (the api-key stage). */
  readonly consumer: string | undefined;
}

/**
 * Whose entries a request may use: '' for everyone's, a per-user identity on a perUser
 * route, or undefined when it must bypass the cache. A request with any credential is a
 * user's; without perUser it never meets the shared entries, whatever the upstream says.
 * Identities are prefixed by kind, so no credential can pose as another kind, and the
 * Authorization header goes in digested, so the cache holds no credential in the clear.
 */
export function cacheUser(caller: Caller, perUser: boolean): string | undefined {
  const { authorization, claims, consumer } = caller;
  if (authorization === undefined && claims === undefined && consumer === undefined) return '';
  if (!perUser) return undefined;
  if (consumer !== undefined) return `consumer:${consumer}`;
  const sub = claims?.sub;
  if (typeof sub === 'string' && sub !== '') {
    const iss = typeof claims?.iss === 'string' ? claims.iss : '';
    return `jwt:${JSON.stringify([iss, sub])}`;
  }
  if (authorization === undefined) return undefined;
  const text = Array.isArray(authorization) ? authorization.join('\n') : authorization;
  return `authorization:${hash('sha256', text, 'base64')}`;
}

function headerText(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : value;
}

/** What goes into a key: the request as matched, and the caller. */
export interface KeyParts {
  /** The backend the plan chose: each side of a strangler split has its own entries. */
  readonly backend: string;
  readonly host: string;
  /** The normalised path. */
  readonly path: string;
  /** The query without '?'. */
  readonly query: string;
  readonly headers: Headers;
  readonly user: string;
}

/**
 * Separates the parts of a key. Header values, paths and hosts cannot hold NUL (Node
 * refuses such requests), so no two different requests share a key.
 */
const SEP = '\u0000';

/**
 * The target a key stands for and a purge names: the normalised path, with the query
 * when the key includes it.
 */
export function cacheTarget(config: CompiledCache, path: string, query: string): string {
  return config.includeQuery && query !== '' ? `${path}?${query}` : path;
}

/** The key of a request before Vary: method-agnostic, so HEAD is served from GET's entry. */
export function primaryKey(config: CompiledCache, parts: KeyParts): string {
  let key = `${parts.backend}${SEP}${parts.host}${SEP}${cacheTarget(config, parts.path, parts.query)}${SEP}${parts.user}`;
  for (const name of config.keyHeaders) key += `${SEP}${headerText(parts.headers[name])}`;
  return key;
}

/** A response's Vary names (RFC 9110 §12.5.5) beyond this many are refused storage. */
export const MAX_VARY_NAMES = 16;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * The request headers a response varies on, lower-cased, deduplicated and sorted, so every
 * spelling of one list (case, spaces, repeats, several Vary fields) keys the same
 * variants. undefined: not storable (`*`, a name that is not a token, or too many names).
 */
export function varyNames(vary: string | string[] | undefined): string[] | undefined {
  const names = new Set<string>();
  for (const raw of headerText(vary).toLowerCase().split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    // `*` is a token too, and means the response varies on more than headers.
    if (name === '*' || !TOKEN.test(name)) return undefined;
    names.add(name);
    if (names.size > MAX_VARY_NAMES) return undefined;
  }
  return [...names].sort();
}

/** The key of one variant of a primary key: the values of the headers it varies on. */
export function variantKey(primary: string, names: readonly string[], headers: Headers): string {
  let key = `${primary}${SEP}vary`;
  for (const name of names) key += `${SEP}${headerText(headers[name])}`;
  return key;
}

/** What an entry is good for now. */
export type Freshness = 'fresh' | 'stale-while-revalidate' | 'expired';

/**
 * Caps the upstream's freshness at the route's ttl. `library` is http-cache-semantics'
 * verdict (which knows Cache-Control, Expires, Age, request directives and its own
 * stale-while-revalidate window); the ttl can only shorten it: an entry older than ttl is
 * stale, still served while revalidating within the upstream's stale-while-revalidate.
 */
export function cappedFreshness(
  library: Freshness,
  ageMs: number,
  ttlMs: number,
  staleWhileRevalidateMs: number,
): Freshness {
  if (library !== 'fresh' || ageMs < ttlMs) return library;
  return ageMs < ttlMs + staleWhileRevalidateMs ? 'stale-while-revalidate' : 'expired';
}

/**
 * Until when (ms since the epoch) an entry is fresh for a request without directives of
 * its own: http-cache-semantics' lifetime and age, read once when it is stored, capped at
 * the ttl, so a hit needs no second reading. 0: every request asks the library
 * (must-revalidate or no-cache, which it never serves without asking upstream).
 */
export function freshUntil(
  nowMs: number,
  maxAgeMs: number,
  ageMs: number,
  ttlMs: number,
  alwaysRevalidate: boolean,
): number {
  return alwaysRevalidate ? 0 : nowMs + Math.min(maxAgeMs, ttlMs) - ageMs;
}

/** Whether a stale entry may answer in place of an upstream error (stale-if-error). */
export function usableOnError(
  ageMs: number,
  maxAgeMs: number,
  ttlMs: number,
  staleIfErrorMs: number,
): boolean {
  return ageMs < Math.min(maxAgeMs, ttlMs) + staleIfErrorMs;
}

/**
 * How long the store keeps an entry: while fresh (ttl-capped), then while a stale copy can
 * still serve (stale-while-revalidate, stale-if-error), and, when it has a validator,
 * another ttl in which a conditional request can bring it back for the price of a 304.
 * 0: not worth storing.
 */
export function keepMs(
  freshMs: number,
  ttlMs: number,
  staleWhileRevalidateMs: number,
  staleIfErrorMs: number,
  hasValidator: boolean,
): number {
  const fresh = Math.max(0, Math.min(freshMs, ttlMs));
  return fresh + Math.max(staleWhileRevalidateMs, staleIfErrorMs, hasValidator ? ttlMs : 0);
}

/**
 * What about a route the cached answers depend on: everything but the backends' weights
 * (the key names the backend, so a migration step keeps every entry valid).
 */
export function routeCacheIdentity(route: CompiledRoute): string {
  return canonicalJson({
    ...route,
    backends: route.backends.map((b) => ({ ...b, weight: 0 })),
    newServicePercent: 0,
  });
}
