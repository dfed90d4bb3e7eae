// The route's rateLimit: each key (client address, a header, a JWT claim or the API-key
// consumer) spends one request of its budget; a spent budget gets 429 with Retry-After
// and the RateLimit / RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers-10.
// Runs after auth, so a claim or a consumer can be the key.
import type { CompiledRateLimit } from '../../api/index.js';
import { UNMATCHED_ROUTE } from '../metrics.js';
import type { Answer, StageBuilder, StageContext } from '../pipeline.js';
import { windowSeconds, type RateLimitDecision } from '../rate-limits.js';
import type { Headers } from '../transforms.js';

/**
 * Whose budget a request spends. A request without the configured key spends its client
 * address's budget, so leaving a header out never escapes the limit. Keyed values carry a
 * prefix an address never has, so a client cannot spend someone else's address budget by
 * sending that address as its key.
 */
export function rateLimitKey(key: CompiledRateLimit['key'], ctx: StageContext): string {
  let value: unknown;
  switch (key.type) {
    case 'clientIp':
      return ctx.plan.clientAddress;
    case 'header': {
      const header = ctx.upstreamHeaders[key.name];
      value = Array.isArray(header) ? header[0] : header;
      break;
    }
    case 'claim':
      value = ctx.claims?.[key.name];
      break;
    case 'apiKey':
      value = ctx.consumer;
      break;
  }
  if ((typeof value === 'string' && value !== '') || typeof value === 'number') {
    return `k:${value}`;
  }
  return ctx.plan.clientAddress;
}

/** `"orders";q=200;w=2`: the policy as an Item of the draft's RateLimit-Policy List. */
export function rateLimitPolicyField(policyName: string, policy: CompiledRateLimit): string {
  // The draft's window is whole seconds: round up, which states a stricter policy than
  // the one enforced, never a looser one.
  return `${quoted(policyName)};q=${policy.burst};w=${Math.ceil(windowSeconds(policy))}`;
}

/** The RateLimit field of a decision: what is left, and the seconds until the window ends. */
export function rateLimitField(policyName: string, remaining: number, resetMs: number): string {
  return `${quoted(policyName)};r=${remaining};t=${secondsUntil(resetMs)}`;
}

/** Whole seconds, at least 1: the draft's t and Retry-After are integers. */
function secondsUntil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The 429 answer for a spent budget: nothing left, and the seconds until the window ends. */
export function tooManyRequests(
  policyName: string,
  policyField: string,
  msBeforeNext: number,
): Answer {
  const seconds = secondsUntil(msBeforeNext);
  return {
    status: 429,
    reason: 'rate-limited',
    message: `rate limit of route ${policyName} exceeded; retry in ${seconds} s`,
    headers: {
      'retry-after': String(seconds),
      'ratelimit-policy': policyField,
      ratelimit: rateLimitField(policyName, 0, msBeforeNext),
    },
  };
}

/** Adds a field to a response's header, after any the upstream sent (the draft's fields are Lists). */
function appendField(headers: Headers, name: string, value: string): void {
  const existing = headers[name];
  headers[name] =
    existing === undefined
      ? value
      : `${Array.isArray(existing) ? existing.join(', ') : existing}, ${value}`;
}

/** An sf-string (RFC 9651 §3.3.3): route names are DNS labels, but quote what must be. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

export const rateLimitStage: StageBuilder = (route, services) => {
  const policy = route !== undefined ? route.rateLimit : services.table.defaults?.rateLimit;
  if (policy === undefined) return undefined;
  const name = route?.name ?? UNMATCHED_ROUTE;
  const { source } = services.table;
  const limiter = services.rateLimits.limiter(name, policy, `${source.namespace}/${source.name}`);
  const allowed = services.metrics.rateLimitDecisions.labels({ route: name, decision: 'allowed' });
  const limited = services.metrics.rateLimitDecisions.labels({ route: name, decision: 'limited' });
  const policyField = rateLimitPolicyField(name, policy);
  const key = policy.key;
  const decide = (ctx: StageContext, decision: RateLimitDecision): Answer | undefined => {
    ctx.rateLimit = decision;
    if (!decision.allowed) {
      limited.inc();
      return tooManyRequests(name, policyField, decision.resetMs);
    }
    allowed.inc();
    return undefined;
  };
  // Allowed responses carry the fields too, so a client can slow down before a 429.
  const addFields = (ctx: StageContext, headers: Headers) => {
    const decision = ctx.rateLimit;
    if (decision === undefined) return;
    appendField(headers, 'ratelimit-policy', policyField);
    appendField(headers, 'ratelimit', rateLimitField(name, decision.remaining, decision.resetMs));
  };
  return {
    name: 'rate-limit',
    onRequest(ctx) {
      const decision = limiter.consume(rateLimitKey(key, ctx));
      // Per-replica budgets decide synchronously, so the route's requests stay promise-free.
      if (!(decision instanceof Promise)) return decide(ctx, decision);
      return decision.then((d) => decide(ctx, d));
    },
    onResponseHead(ctx, _status, headers) {
      addFields(ctx, headers);
    },
    onAnswerHead(ctx, answer, headers) {
      // A 429 has its fields already.
      if (answer.reason !== 'rate-limited') addFields(ctx, headers);
    },
  };
};
