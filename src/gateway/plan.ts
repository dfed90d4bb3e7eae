// The plan step: from the config in use and a request head, decide everything about the
// request before any byte goes upstream: the path as it will be matched and forwarded,
// the route, the backend, the upstream target and headers. Pure (randomness and the
// request id come in with the head), shared by ordinary requests and upgrades, so no
// spelling of a request reaches an upstream by another road than the one matched.
import type { Answer, Pipeline } from './pipeline.js';
import type { Runtime, RuntimeBackend, RuntimeRoute } from './runtime.js';
import { cohortPoint, cookieValue, pickBackend } from './split.js';
import { clientAddress } from './forwarded.js';
import { hostOf, normalizePath, parseRequestTarget } from './request-head.js';
import { SHADOW_HEADER } from './shadow/comparison.js';
import { rewritePath, upstreamRequestHeaders, type Headers } from './transforms.js';

/** What the plan reads of a request: Node's IncomingMessage fields, plus entropy. */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent (origin-form, absolute-form or `*`). */
  readonly url: string;
  readonly headers: Headers;
  /** Name/value pairs as received, where a duplicate Host is still visible. */
  readonly rawHeaders: readonly string[];
  /** Socket peer address. */
  readonly peer: string;
  /** Whether the client connection is TLS. */
  readonly encrypted: boolean;
  /** The request id to use (the client's when sane, else a fresh one). */
  readonly requestId: string;
  /** A number in [0, 1) for splits of requests without a cohort key. */
  readonly random: number;
}

/** A request to send upstream. */
export interface ProxyPlan {
  readonly kind: 'proxy';
  readonly method: string;
  readonly requestId: string;
  readonly route: RuntimeRoute;
  readonly pipeline: Pipeline;
  readonly backend: RuntimeBackend;
  /** The normalised path: what was matched, and (rewritten) what is forwarded. */
  readonly path: string;
  /** The query string without '?', as sent. */
  readonly query: string;
  /** Rewritten path and query; each backend's base path goes in front of it. */
  readonly forwardTarget: string;
  /** Headers for the upstream, without Host (set per backend). Stages may edit them. */
  readonly headers: Headers;
  /** The client's address under the trust model (trustedProxies). */
  readonly clientAddress: string;
  /** The Host the client sent. */
  readonly host: string;
  /** The head's entropy, kept for a claim cohort's choice once the claims are known. */
  readonly random: number;
}

/** A request the gateway answers itself: refused, or `OPTIONS *`. */
export interface AnswerPlan extends Answer {
  readonly kind: 'answer';
}

export type Plan = ProxyPlan | AnswerPlan;

function refuse(status: number, reason: string, message: string): AnswerPlan {
  return { kind: 'answer', status, reason, message };
}

/** `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): the gateway answers. */
const OPTIONS_ASTERISK: AnswerPlan = {
  kind: 'answer',
  status: 204,
  reason: 'options-asterisk',
  message: '',
  headers: { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' },
};

/** The upstream request target of a plan for one backend: under its base path, if any. */
export function upstreamPath(plan: ProxyPlan, backend: Pick<RuntimeBackend, 'basePath'>): string {
  return backend.basePath + plan.forwardTarget;
}

/**
 * Which backend of a route serves this request: override header, cohort, or chance. The
 * plan chooses without claims (a claim cohort then splits at random, as for a request
 * without a token); the claim-cohort stage chooses again once the jwt stage verified them.
 */
export function chooseBackend(
  route: RuntimeRoute,
  headers: Headers,
  client: string,
  random: number,
  claims?: Readonly<Record<string, unknown>>,
): RuntimeBackend {
  if (route.overrideHeader !== undefined) {
    const forced = headers[route.overrideHeader];
    if (typeof forced === 'string') {
      const index = route.overrides.get(forced.trim().toLowerCase());
      if (index !== undefined)
        return index < 0 ? route.monolith : (route.backends[index] as RuntimeBackend);
    }
  }
  const split = route.split;
  if (split.newWeight === 0) return route.monolith;
  let key: string | undefined;
  const cohort = route.cohort;
  if (cohort !== undefined) {
    if ('header' in cohort) {
      const value = headers[cohort.header];
      key = Array.isArray(value) ? value[0] : value;
    } else if ('cookie' in cohort) {
      const cookie = headers.cookie;
      key = cookieValue(Array.isArray(cookie) ? cookie.join('; ') : cookie, cohort.cookie);
    } else if ('claim' in cohort) {
      const value = claims?.[cohort.claim];
      if (typeof value === 'string' || typeof value === 'number') key = String(value);
    } else {
      key = client;
    }
  }
  // No key: split per request at random, so the weights still hold in aggregate.
  const point = key !== undefined && key !== '' ? cohortPoint(key) : random * 100;
  const index = pickBackend(split, point);
  return index < 0 ? route.monolith : (route.backends[index] as RuntimeBackend);
}

/** Plans one request against the config in use. */
export function planRequest(runtime: Runtime, head: RequestHead): Plan {
  const target = parseRequestTarget(head.url);
  if (target.kind === 'asterisk') {
    return head.method === 'OPTIONS'
      ? OPTIONS_ASTERISK
      : refuse(400, 'bad-target', 'the request target * is only valid with OPTIONS');
  }
  if (target.kind === 'invalid') return refuse(400, 'bad-target', target.reason);
  const host = hostOf(head.rawHeaders);
  if (!host.ok) return refuse(host.status, 'bad-host', host.reason);
  const normal = normalizePath(target.path);
  if (!normal.ok) return refuse(normal.status, 'bad-path', normal.reason);
  const path = normal.path;
  const query = target.query;

  const index = runtime.matcher.match({ method: head.method, path, query, headers: head.headers });
  const route = index < 0 ? runtime.unmatched : (runtime.routes[index] as RuntimeRoute);
  const trusted = runtime.trustedProxies;
  const client = clientAddress(head.peer, head.headers['x-forwarded-for'], trusted);
  const backend = chooseBackend(route, head.headers, client, head.random);

  const headers = upstreamRequestHeaders(head.headers, {
    peer: head.peer,
    encrypted: head.encrypted,
    host: host.value,
    trusted,
    requestId: head.requestId,
  });
  // Only the gateway marks a request as a shadow copy: a client's mark would make the new
  // service skip the side effects of a real request.
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a constant name
  if (headers[SHADOW_HEADER] !== undefined) delete headers[SHADOW_HEADER];
  const rewritten = rewritePath(route.rewrite, path);
  return {
    kind: 'proxy',
    method: head.method,
    requestId: head.requestId,
    route,
    pipeline: route.pipeline,
    backend,
    path,
    query,
    forwardTarget: query === '' ? rewritten : `${rewritten}?${query}`,
    headers,
    clientAddress: client,
    host: host.value,
    random: head.random,
  };
}
