// spec.routes[].cache (and spec.defaults.cache for unmatched traffic): a shared HTTP cache
// in front of the upstream, RFC 9111 as http-cache-semantics reads it.
//
//   bypass  not GET/HEAD, a body or a Range, or credentials without perUser: not looked up
//   fresh   answered from the cache (x-figway-cache: hit, with Age), no upstream call
//   stale   within stale-while-revalidate: answered stale, refreshed in the background
//   expired revalidated with a conditional request (ETag / Last-Modified): 304 refreshes
//           the entry; an error or 5xx within stale-if-error answers stale
//   miss    goes upstream as any request; the answer is collected as it streams to the
//           client (never more than maxBodyBytes) and stored when whole and storable
//
// Concurrent misses and revalidations of one key are coalesced: the first goes upstream,
// the others wait (at most half the route's timeout) for what it stores, and go upstream
// themselves when it stored nothing.
import CachePolicy from 'http-cache-semantics';
import { canonicalJson, type CompiledBackend } from '../../api/index.js';
import {
  cacheableMethod,
  cacheTarget,
  cacheUser,
  cappedFreshness,
  primaryKey,
  routeCacheIdentity,
  usableOnError,
  type Freshness,
} from '../cache/key.js';
import {
  ownRequest,
  policyHeaders,
  policyRequest,
  refusal,
  type Entry,
  type Flight,
  type PolicyRequest,
  type RouteCache,
} from '../cache/store.js';
import { tapOf, type BodyTap, type CaptureFailure } from '../engine.js';
import { errorFields } from '../../common/logger.js';
import { UNMATCHED_ROUTE } from '../metrics.js';
import type {
  Outcome,
  RequestStep,
  StageBuilder,
  StageContext,
  StoredResponse,
} from '../pipeline.js';
import { upstreamPath, type ProxyPlan } from '../plan.js';
import type { RuntimeBackend } from '../runtime.js';
import { applyHeaderModifier, endToEndHeaders, hasBody, type Headers } from '../transforms.js';

/** Response header saying whether the cache answered: hit, or miss (the upstream did). */
export const CACHE_HEADER = 'x-figway-cache';

const SHARED = { shared: true } as const;

/** What an entry was served from, for StoredResponse.headers. */
function stored(entry: Entry, headers: Headers, verdict: 'hit' | 'miss'): StoredResponse {
  if (entry.status !== 204) headers['content-length'] = String(entry.body.length);
  headers[CACHE_HEADER] = verdict;
  return { status: entry.status, headers, body: entry.body, backend: entry.backend };
}

/** The answer of a request that went upstream, as the cache stage saw it. */
type Fetched =
  | { readonly status: number; readonly headers: Headers; readonly body: Buffer }
  | { readonly failure: CaptureFailure };

/** Collects a miss's answer as it streams to the client, and stores it once it is whole. */
class CacheFill implements BodyTap {
  private policy: CachePolicy | undefined;
  private status = 0;
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly cache: RouteCache,
    private readonly primary: string,
    private readonly request: PolicyRequest,
    private readonly flight: Flight | undefined,
  ) {}

  requestChunk(): void {
    // Requests with bodies bypass the cache.
  }
  requestSent(): void {
    // Nothing to do: only the answer is kept.
  }

  responseChunk(chunk: Buffer): void {
    if (this.policy === undefined) return;
    this.bytes += chunk.length;
    if (this.bytes > this.cache.config.maxBodyBytes) this.giveUp();
    else this.chunks.push(chunk);
  }

  /** The head the client gets: decides whether the answer is worth collecting. */
  head(status: number, headers: Headers): void {
    const policy = new CachePolicy(
      this.request,
      { status, headers: policyHeaders(headers) },
      SHARED,
    );
    const length = Number(headers['content-length'] ?? 0);
    if (refusal(policy, status, headers) !== undefined || length > this.cache.config.maxBodyBytes) {
      this.giveUp();
      return;
    }
    this.policy = policy;
    this.status = status;
  }

  /** The exchange is over: store what arrived whole, from the backend the key names. */
  done(plan: ProxyPlan, outcome: Outcome): void {
    const policy = this.policy;
    if (
      policy !== undefined &&
      outcome.status === this.status &&
      outcome.failure === undefined &&
      !outcome.local &&
      !outcome.fellBack &&
      outcome.backendName === plan.backend.name
    ) {
      this.cache.store(this.primary, this.request, policy, {
        status: this.status,
        body: Buffer.concat(this.chunks, this.bytes),
        backend: plan.backend.name,
        path: plan.path,
        target: cacheTarget(this.cache.config, plan.path, plan.query),
      });
    }
    this.giveUp();
  }

  /** Nothing (more) to store: free what was collected and let the waiting requests go. */
  private giveUp(): void {
    this.policy = undefined;
    this.chunks = [];
    this.flight?.settle();
  }
}

function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export const cacheStage: StageBuilder = (route, services) => {
  const { table } = services;
  const config = route !== undefined ? route.cache : table.defaults?.cache;
  if (config === undefined) return undefined;
  const name = route?.name ?? UNMATCHED_ROUTE;
  const identity =
    route !== undefined
      ? routeCacheIdentity(route)
      : canonicalJson({ monolith: table.monolith, defaults: table.defaults });
  const registry = services.caches;
  const cache = registry.cacheFor(name, config, identity);
  const results = registry.results(name);
  const engine = registry.engine;
  const responseHeaders = route?.responseHeaders;
  const backends: readonly CompiledBackend[] = route?.backends ?? [table.monolith];
  // The cache's own requests use the pools kept for the gateway's own traffic.
  const own = new Map<string, RuntimeBackend>();
  for (const b of backends) if (!own.has(b.name)) own.set(b.name, services.ownBackend(b, name));
  const { ttlMs, perUser } = config;
  const logger = services.logger;

  const judge = (entry: Entry, view: PolicyRequest): { state: Freshness; headers?: Headers } => {
    const now = Date.now();
    const requestHeaders = view.headers;
    if (
      now < entry.freshUntil &&
      requestHeaders['cache-control'] === undefined &&
      requestHeaders.pragma === undefined
    ) {
      const age = entry.ageAtStore + (now - entry.storedAt) / 1000;
      return { state: 'fresh', headers: { ...entry.headers, age: String(Math.round(age)) } };
    }
    const verdict = entry.policy.evaluateRequest(view);
    const library: Freshness =
      verdict.revalidation === undefined
        ? 'fresh'
        : verdict.revalidation.synchronous
          ? 'expired'
          : 'stale-while-revalidate';
    const state = cappedFreshness(
      library,
      entry.policy.age() * 1000,
      ttlMs,
      entry.staleWhileRevalidateMs,
    );
    const headers = verdict.response?.headers;
    return headers === undefined ? { state } : { state, headers };
  };

  /** Sends a request of the cache's own (a revalidation) to the backend the plan chose. */
  const refetch = (plan: ProxyPlan, headers: Headers): Promise<Fetched> => {
    const backend = own.get(plan.backend.name);
    if (backend === undefined) return Promise.resolve({ failure: 'no-backend' });
    headers.host = backend.host;
    return new Promise((resolve) => {
      engine.capture(
        backend.pool,
        {
          method: 'GET',
          path: upstreamPath(plan, backend),
          headers,
          body: null,
          timeoutMs: plan.route.timeoutMs,
          maxBodyBytes: config.maxBodyBytes,
        },
        {
          onCaptured(status, raw, body) {
            const out = endToEndHeaders(raw);
            applyHeaderModifier(out, responseHeaders);
            resolve({ status, headers: out, body });
          },
          onCaptureFailed(failure) {
            resolve({ failure });
          },
        },
      );
    });
  };

  /**
   * Puts what a conditional request brought back into the cache. Returns the entry to
   * serve (refreshed by a 304, or a new storable answer), the answer to pass on when it is
   * whole but not storable (the kept entry is dropped then: the upstream has changed its
   * mind), or undefined when the upstream failed.
   */
  const absorb = (
    plan: ProxyPlan,
    key: string,
    primary: string,
    view: PolicyRequest,
    entry: Entry,
    fetched: Fetched,
  ): { entry: Entry; revalidated: boolean } | { answer: StoredResponse } | undefined => {
    if ('failure' in fetched || fetched.status >= 500) return undefined;
    const response = { status: fetched.status, headers: policyHeaders(fetched.headers) };
    const target = { path: entry.path, target: entry.target, backend: entry.backend };
    if (fetched.status === 304) {
      const { policy } = entry.policy.revalidatedPolicy(view, response);
      const refreshed = cache.store(primary, view, policy, {
        ...target,
        status: entry.status,
        body: entry.body,
      });
      return { entry: refreshed ?? { ...entry, policy }, revalidated: true };
    }
    const policy = new CachePolicy(view, response, SHARED);
    const kept =
      refusal(policy, fetched.status, fetched.headers) === undefined
        ? cache.store(primary, view, policy, {
            ...target,
            status: fetched.status,
            body: fetched.body,
          })
        : undefined;
    if (kept !== undefined) return { entry: kept, revalidated: false };
    cache.forget(key);
    const headers = fetched.headers;
    headers[CACHE_HEADER] = 'miss';
    return {
      answer: { status: fetched.status, headers, body: fetched.body, backend: plan.backend.name },
    };
  };

  const refreshInBackground = (plan: ProxyPlan, key: string, primary: string, entry: Entry) => {
    if (cache.flight(key) !== undefined) return;
    const flight = cache.lead(key);
    const view = ownRequest(plan.headers);
    refetch(plan, entry.policy.revalidationHeaders(view))
      .then((fetched) => absorb(plan, key, primary, view, entry, fetched))
      .catch((error: unknown) => {
        logger.warn('background cache refresh failed', { route: name, ...errorFields(error) });
      })
      .finally(() => {
        flight.settle();
      });
  };

  /** A miss that goes upstream: collect the answer to store it. */
  const fill = (ctx: StageContext, primary: string, flight: Flight | undefined): RequestStep => {
    results.miss.inc();
    if (ctx.plan.method === 'GET') {
      (ctx.tapBodies as NonNullable<StageContext['tapBodies']>)(
        new CacheFill(cache, primary, policyRequest({ ...ctx.upstreamHeaders }), flight),
      );
    }
    return undefined;
  };

  const revalidate = async (
    ctx: StageContext,
    key: string,
    primary: string,
    entry: Entry,
  ): Promise<RequestStep> => {
    const flight = cache.lead(key);
    const view = ownRequest(ctx.upstreamHeaders);
    let outcome: ReturnType<typeof absorb>;
    try {
      const fetched = await refetch(ctx.plan, entry.policy.revalidationHeaders(view));
      outcome = absorb(ctx.plan, key, primary, view, entry, fetched);
    } finally {
      flight.settle();
    }
    if (outcome === undefined) {
      if (
        usableOnError(
          entry.policy.age() * 1000,
          entry.policy.maxAge() * 1000,
          ttlMs,
          entry.staleIfErrorMs,
        )
      ) {
        results.stale.inc();
        return answer(stored(entry, entry.policy.responseHeaders(), 'hit'));
      }
      // The exchange tries again, with the route's retries and fallback.
      return fill(ctx, primary, undefined);
    }
    if ('answer' in outcome) {
      results.miss.inc();
      return answer(outcome.answer);
    }
    (outcome.revalidated ? results.revalidated : results.miss).inc();
    return answer(
      stored(
        outcome.entry,
        outcome.entry.policy.responseHeaders(),
        outcome.revalidated ? 'hit' : 'miss',
      ),
    );
  };

  const lookup = (
    ctx: StageContext,
    primary: string,
    mayWait: boolean,
  ): RequestStep | Promise<RequestStep> => {
    const headers = ctx.upstreamHeaders;
    const view = policyRequest(headers);
    const { key, entry } = cache.lookup(primary, headers);
    if (entry !== undefined) {
      const { state, headers: fresh } = judge(entry, view);
      if (state !== 'expired') {
        const out = fresh ?? entry.policy.responseHeaders();
        if (state === 'fresh') results.hit.inc();
        else {
          results.stale.inc();
          refreshInBackground(ctx.plan, key, primary, entry);
        }
        return answer(stored(entry, out, 'hit'));
      }
    }
    const flight = cache.flight(key);
    if (flight !== undefined && mayWait) {
      // Half the route's timeout: a request released unanswered has the rest for its own try.
      return waitAtMost(flight.settled, ctx.plan.route.timeoutMs / 2).then(() =>
        lookup(ctx, primary, false),
      );
    }
    // A HEAD has no body to refresh an entry with: it goes upstream as it is.
    if (entry !== undefined && ctx.plan.method === 'GET')
      return revalidate(ctx, key, primary, entry);
    const leads = flight === undefined && ctx.plan.method === 'GET';
    return fill(ctx, primary, leads ? cache.lead(key) : undefined);
  };

  return {
    name: 'cache',
    onRequest(ctx) {
      const plan = ctx.plan;
      const headers = ctx.upstreamHeaders;
      if (
        !cacheableMethod(plan.method) ||
        ctx.tapBodies === undefined ||
        headers.range !== undefined ||
        hasBody(ctx.req.headers)
      ) {
        results.bypass.inc();
        return undefined;
      }
      const user = cacheUser(
        { authorization: headers.authorization, claims: ctx.claims, consumer: ctx.consumer },
        perUser,
      );
      if (user === undefined) {
        results.bypass.inc();
        return undefined;
      }
      const primary = primaryKey(config, {
        backend: plan.backend.name,
        host: plan.host,
        path: plan.path,
        query: plan.query,
        headers,
        user,
      });
      return lookup(ctx, primary, true);
    },
    onResponseHead(ctx, status, headers) {
      tapOf(ctx.tap, CacheFill)?.head(status, headers);
      headers[CACHE_HEADER] = 'miss';
    },
    onDone(ctx, outcome) {
      tapOf(ctx.tap, CacheFill)?.done(ctx.plan, outcome);
    },
  };
};

function answer(response: StoredResponse): RequestStep {
  return { status: response.status, reason: 'cache', message: '', stored: response };
}
