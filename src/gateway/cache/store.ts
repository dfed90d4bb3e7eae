// One route's cache in one gateway pod: an LRU bounded by bytes (lru-cache), the variant
// records that point a primary key to the headers its responses vary on, and the requests
// in flight per key that concurrent misses wait for instead of going upstream themselves.
import type CachePolicy from 'http-cache-semantics';
import { LRUCache } from 'lru-cache';
import type { CompiledCache } from '../../api/index.js';
import type { Headers } from '../transforms.js';
import { freshUntil, keepMs, variantKey, varyNames } from './key.js';

/** The request as http-cache-semantics sees it: URL and host are in our key already. */
export interface PolicyRequest {
  readonly method: 'GET';
  readonly url: '/';
  readonly headers: Headers;
}

export function policyRequest(headers: Headers): PolicyRequest {
  return { method: 'GET', url: '/', headers };
}

const CLIENT_VALIDATORS: ReadonlySet<string> = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
]);

/**
 * The request the cache sends on its own account (a revalidation) for a client's: the
 * client's validators left out, so a 304 speaks of the kept entry and not of whatever copy
 * the client holds.
 */
export function ownRequest(headers: Headers): PolicyRequest {
  const own: Headers = {};
  for (const name in headers) if (!CLIENT_VALIDATORS.has(name)) own[name] = headers[name];
  return policyRequest(own);
}

/** A stored response. */
export interface Entry {
  readonly kind: 'entry';
  readonly policy: CachePolicy;
  readonly status: number;
  readonly body: Buffer;
  /** The backend that served it, for the backend header of hits. */
  readonly backend: string;
  /** The normalised path and the target (cache-key.ts cacheTarget), for purges. */
  readonly path: string;
  readonly target: string;
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  /** cache/key.ts freshUntil: hits before this need no library call. */
  readonly freshUntil: number;
  /** Date.now() and the library's age (s) when stored, for the Age of quick hits. */
  readonly storedAt: number;
  readonly ageAtStore: number;
  /** The headers of a hit (the library's, with Content-Length), but Age. */
  readonly headers: Headers;
}

/** Which headers the responses of a primary key vary on. */
interface VaryRecord {
  readonly kind: 'vary';
  readonly names: readonly string[];
  readonly path: string;
  readonly target: string;
}

type Stored = Entry | VaryRecord;

/** Settles when the request a key waits for has stored its answer, or given up. */
export interface Flight {
  readonly settled: Promise<void>;
  settle(): void;
}

function headerBytes(headers: Headers): number {
  let bytes = 0;
  for (const name in headers) {
    const value = headers[name];
    bytes +=
      name.length + 4 + (Array.isArray(value) ? value.join(', ').length : (value ?? '').length);
  }
  return bytes;
}

/**
 * Bytes an entry is charged for: the body, the response headers, and the request headers
 * a varying policy keeps, plus a fixed allowance for the policy object and the key.
 */
const ENTRY_OVERHEAD = 512;

function seconds(directive: string | undefined): number {
  const value = Number(directive);
  return Number.isFinite(value) && value > 0 ? value * 1000 : 0;
}

/** A header object http-cache-semantics can read: one string per name (it splits lists itself). */
export function policyHeaders(headers: Headers): Headers {
  const out: Headers = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Why a response is not stored, or undefined when it is storable. */
export function refusal(
  policy: CachePolicy,
  status: number,
  headers: Headers,
): 'not-storable' | 'set-cookie' | 'vary' | undefined {
  // http-cache-semantics stores a public response with Set-Cookie; a cache shared by every
  // user of a gateway must never hand one user's cookie to the next.
  if (headers['set-cookie'] !== undefined) return 'set-cookie';
  if (varyNames(headers.vary) === undefined) return 'vary';
  return policy.storable() ? undefined : 'not-storable';
}

export class RouteCache {
  private readonly lru: LRUCache<string, Stored>;
  private readonly flights = new Map<string, Flight>();

  constructor(readonly config: CompiledCache) {
    this.lru = new LRUCache<string, Stored>({ maxSize: config.maxBytes });
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** The key a request's entry is stored under, and the entry if one is. */
  lookup(primary: string, headers: Headers): { key: string; entry: Entry | undefined } {
    const stored = this.lru.get(primary);
    if (stored === undefined) return { key: primary, entry: undefined };
    if (stored.kind === 'entry') return { key: primary, entry: stored };
    const key = variantKey(primary, stored.names, headers);
    const entry = this.lru.get(key);
    return { key, entry: entry?.kind === 'entry' ? entry : undefined };
  }

  /**
   * Stores a response the caller found storable (refusal() is undefined) for the request
   * whose headers went upstream. Returns the entry, or undefined when it is not worth
   * keeping (no freshness, no validator) or larger than the whole cache.
   */
  store(
    primary: string,
    request: PolicyRequest,
    policy: CachePolicy,
    response: { status: number; body: Buffer; backend: string; path: string; target: string },
  ): Entry | undefined {
    const cc = policy.toObject().rescc;
    const headers: Headers = policy.responseHeaders();
    const hasValidator = headers.etag !== undefined || headers['last-modified'] !== undefined;
    if (response.status !== 204) headers['content-length'] = String(response.body.length);
    const now = Date.now();
    const ageAtStore = policy.age();
    const entry: Entry = {
      kind: 'entry',
      policy,
      ...response,
      staleWhileRevalidateMs: seconds(cc['stale-while-revalidate']),
      staleIfErrorMs: seconds(cc['stale-if-error']),
      freshUntil: freshUntil(
        now,
        policy.maxAge() * 1000,
        ageAtStore * 1000,
        this.config.ttlMs,
        cc['must-revalidate'] !== undefined || cc['no-cache'] !== undefined,
      ),
      storedAt: now,
      ageAtStore,
      headers,
    };
    const ttl = keepMs(
      policy.maxAge() * 1000 - policy.age() * 1000,
      this.config.ttlMs,
      entry.staleWhileRevalidateMs,
      entry.staleIfErrorMs,
      hasValidator,
    );
    const names = varyNames(headers.vary) ?? [];
    const size =
      response.body.length +
      headerBytes(headers) +
      (names.length > 0 ? headerBytes(request.headers) : 0) +
      primary.length * 2 +
      ENTRY_OVERHEAD;
    if (ttl <= 0 || size > this.config.maxBytes) return undefined;
    let key = primary;
    if (names.length > 0) {
      const record: VaryRecord = {
        kind: 'vary',
        names,
        path: response.path,
        target: response.target,
      };
      // Kept as long as the entries it leads to can be.
      this.lru.set(primary, record, { size: primary.length + 64 * names.length, ttl });
      key = variantKey(primary, names, request.headers);
    }
    this.lru.set(key, entry, { size, ttl });
    return entry;
  }

  /** Drops one entry. */
  forget(key: string): void {
    this.lru.delete(key);
  }

  /** The request in flight for a key, if a miss or revalidation is fetching it. */
  flight(key: string): Flight | undefined {
    return this.flights.get(key);
  }

  /** Starts the flight of a key; the caller settles it once, whatever happens. */
  lead(key: string): Flight {
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const flight: Flight = {
      settled,
      settle: () => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
        settle();
      },
    };
    this.flights.set(key, flight);
    return flight;
  }

  /**
   * Drops the entries of one target (`/p?q=1`: that query only; `/p`: every query of the
   * path), or all of them. Returns how many responses were dropped.
   */
  purge(target?: string): number {
    if (target === undefined) {
      let count = 0;
      for (const stored of this.lru.values()) if (stored.kind === 'entry') count += 1;
      this.lru.clear();
      return count;
    }
    const byPath = !target.includes('?');
    const doomed: string[] = [];
    let count = 0;
    for (const [key, stored] of this.lru.entries()) {
      if ((byPath ? stored.path : stored.target) !== target) continue;
      doomed.push(key);
      if (stored.kind === 'entry') count += 1;
    }
    for (const key of doomed) this.lru.delete(key);
    return count;
  }
}
