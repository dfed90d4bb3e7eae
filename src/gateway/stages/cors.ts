// Cross-origin resource sharing (the route's `cors`, Fetch standard §3.2). The gateway owns
// CORS on a route that sets it: preflights are answered here and never reach an upstream,
// actual requests from an allowed origin get the CORS response headers (on the gateway's
// own answers too), and any CORS
// headers an upstream sent are replaced, so a disallowed origin gets none.
import type { CompiledCors } from '../../api/index.js';
import type { Answer, StageBuilder } from '../pipeline.js';
import type { Headers } from '../transforms.js';

/** A route's CORS policy, prepared once per config. */
export interface CorsPolicy {
  readonly exact: ReadonlySet<string>;
  /** `https://*.example.com` as { scheme: 'https://', suffix: '.example.com' }. */
  readonly wildcards: readonly { readonly scheme: string; readonly suffix: string }[];
  /** `*` without credentials: answer `*` and do not vary by origin. */
  readonly anyOrigin: boolean;
  readonly credentials: boolean;
  readonly allowMethods: string;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
}

export function compileCors(cors: CompiledCors): CorsPolicy {
  const exact = new Set<string>();
  const wildcards: { scheme: string; suffix: string }[] = [];
  let star = false;
  for (const origin of cors.allowOrigins) {
    if (origin === '*') {
      star = true;
      continue;
    }
    const wildcard = origin.indexOf('://*.');
    if (wildcard >= 0)
      wildcards.push({ scheme: origin.slice(0, wildcard + 3), suffix: origin.slice(wildcard + 4) });
    else exact.add(origin);
  }
  const list = (names: readonly string[]) => (names.length > 0 ? names.join(', ') : undefined);
  return {
    exact,
    wildcards,
    // The schema refuses `*` with credentials; checked again so a hand-written table cannot
    // make the gateway answer `*` to a credentialed request.
    anyOrigin: star && !cors.allowCredentials,
    credentials: cors.allowCredentials,
    allowMethods: cors.allowMethods.join(', '),
    allowHeaders: list(cors.allowHeaders),
    exposeHeaders: list(cors.exposeHeaders),
    maxAge: cors.maxAgeSeconds !== undefined ? String(cors.maxAgeSeconds) : undefined,
  };
}

/** Whether the subdomain part of a wildcard match is made of host characters only. */
function isSubdomain(origin: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i += 1) {
    const c = origin.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) /* a-z */ || (c >= 48 && c <= 57) /* 0-9 */ || c === 45 || c === 46;
    if (!ok) return false;
  }
  return origin.charCodeAt(from) !== 46 && origin.charCodeAt(to - 1) !== 46;
}

/** Whether browsers on `origin` may call the route. Origins compare as sent (lower-case). */
export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  if (policy.anyOrigin || policy.exact.has(origin)) return true;
  for (const { scheme, suffix } of policy.wildcards) {
    if (
      origin.startsWith(scheme) &&
      origin.endsWith(suffix) &&
      isSubdomain(origin, scheme.length, origin.length - suffix.length)
    )
      return true;
  }
  return false;
}

/** The Access-Control-Allow-Origin value for an allowed origin. */
function allowOrigin(policy: CorsPolicy, origin: string): string {
  return policy.anyOrigin ? '*' : origin;
}

/** Headers of the gateway's answer to a preflight from an allowed origin. */
export function preflightHeaders(policy: CorsPolicy, origin: string): Headers {
  const headers: Headers = {
    'access-control-allow-origin': allowOrigin(policy, origin),
    'access-control-allow-methods': policy.allowMethods,
  };
  if (policy.allowHeaders !== undefined)
    headers['access-control-allow-headers'] = policy.allowHeaders;
  if (policy.maxAge !== undefined) headers['access-control-max-age'] = policy.maxAge;
  if (policy.credentials) headers['access-control-allow-credentials'] = 'true';
  if (!policy.anyOrigin) headers.vary = 'Origin';
  return headers;
}

/** Adds `Origin` to a response's Vary header, keeping what the upstream listed. */
function varyOnOrigin(headers: Headers): void {
  const vary = headers.vary;
  if (vary === undefined) headers.vary = 'Origin';
  else if (Array.isArray(vary)) headers.vary = [...vary, 'Origin'];
  else if (vary !== '*') headers.vary = `${vary}, Origin`;
}

/** Sets the CORS headers of an actual response, replacing any the upstream sent. */
export function applyCorsResponse(
  policy: CorsPolicy,
  origin: string | undefined,
  headers: Headers,
): void {
  delete headers['access-control-allow-origin'];
  delete headers['access-control-allow-credentials'];
  delete headers['access-control-expose-headers'];
  if (!policy.anyOrigin) varyOnOrigin(headers);
  if (origin === undefined || !originAllowed(policy, origin)) return;
  headers['access-control-allow-origin'] = allowOrigin(policy, origin);
  if (policy.credentials) headers['access-control-allow-credentials'] = 'true';
  if (policy.exposeHeaders !== undefined)
    headers['access-control-expose-headers'] = policy.exposeHeaders;
}

const PREFLIGHT = 'cors-preflight';

const ORIGIN_NOT_ALLOWED: Answer = {
  status: 403,
  reason: 'cors-origin-not-allowed',
  message: 'this origin may not call this route (see the route cors.allowOrigins)',
};

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export const corsStage: StageBuilder = (route, services) => {
  // Unmatched traffic (no route) follows spec.defaults.
  const cors = route !== undefined ? route.cors : services.table.defaults?.cors;
  if (cors === undefined) return undefined;
  const policy = compileCors(cors);
  return {
    name: 'cors',
    onRequest(ctx) {
      const headers = ctx.req.headers;
      const origin = header(headers.origin);
      // A preflight is an OPTIONS with an Origin and Access-Control-Request-Method; any
      // other OPTIONS goes upstream like every other request.
      if (
        origin === undefined ||
        ctx.req.method !== 'OPTIONS' ||
        headers['access-control-request-method'] === undefined
      )
        return undefined;
      if (!originAllowed(policy, origin)) return ORIGIN_NOT_ALLOWED;
      return {
        status: 204,
        reason: PREFLIGHT,
        message: '',
        headers: preflightHeaders(policy, origin),
      };
    },
    onResponseHead(ctx, _status, headers) {
      applyCorsResponse(policy, header(ctx.req.headers.origin), headers);
    },
    // The gateway's own answers (a later stage's 401, 403 or 429, a 502 or 504) get the
    // headers too, or a browser script could not read why its call failed. A preflight
    // answer has its own.
    onAnswerHead(ctx, answer, headers) {
      if (answer.reason !== PREFLIGHT)
        applyCorsResponse(policy, header(ctx.req.headers.origin), headers);
    },
  };
};
