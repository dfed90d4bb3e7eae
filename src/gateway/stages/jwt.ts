// JWT authentication (the route's `auth.jwt`): a Bearer token verified with jose against
// the issuer's JWKS: signature (asymmetric algorithms only), iss, aud, exp and nbf with a
// bounded clock skew. 401 with WWW-Authenticate for a missing or bad token, 403 when the
// requiredClaims are not met, 503 only while no key set was ever fetched. The claims go to
// later stages (ctx.claims) and, per claimsToHeaders, upstream.
import type { webcrypto } from 'node:crypto';
import {
  createRemoteJWKSet,
  errors,
  jwksCache,
  jwtVerify,
  type JWKSCacheInput,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { CompiledJwt } from '../../api/index.js';
import type { CounterSeries } from '../../common/metrics.js';
import { UNMATCHED_ROUTE } from '../metrics.js';
import type { Answer, StageBuilder, StageContext } from '../pipeline.js';
import { SecretJwksUnavailableError } from '../secret-store.js';

/** Longest token accepted (RFC 7519 sets none; 8 KiB covers every real identity provider). */
export const MAX_TOKEN_BYTES = 8192;
/** Longest wait for a JWKS response. */
export const JWKS_TIMEOUT_MS = 2000;
/** Least time between two fetches caused by tokens with an unknown kid. */
export const JWKS_COOLDOWN_MS = 30_000;
/** How often the key set is refreshed in the background while tokens keep arriving. */
export const JWKS_REFRESH_MS = 600_000;

export const AUTH_RESULTS = [
  'ok',
  'anonymous',
  'missing',
  'oversized',
  'malformed',
  'expired',
  'not-yet-valid',
  'wrong-issuer',
  'wrong-audience',
  'algorithm-not-allowed',
  'bad-signature',
  'unknown-key',
  'invalid',
  'forbidden',
  'jwks-unavailable',
] as const;
export type AuthResult = (typeof AUTH_RESULTS)[number];

/** The key set could not be fetched and none was fetched before. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

/**
 * One issuer's keys. jose's remote set caches them and refetches on an unknown kid after a
 * cooldown; it is told never to expire them (cacheMaxAge Infinity) so that a JWKS outage
 * keeps the last good keys and no request waits on a refetch a cached key could answer.
 * Rotation without new kids is picked up by a background refresh every JWKS_REFRESH_MS.
 */
export class KeySource {
  private readonly remote;
  /** jose writes the time of each key set it applies here (uat): our generation number. */
  private readonly applied: JWKSCacheInput = {};
  private refreshedAt = Date.now();
  /** For jwtVerify: a method bound once, so requests create no closure. */
  readonly getKey: JWTVerifyGetKey;

  constructor(
    url: string,
    private readonly onRefreshFailed: (error: unknown) => void,
  ) {
    this.remote = createRemoteJWKSet(new URL(url), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: Infinity,
      [jwksCache]: this.applied,
    });
    this.getKey = this.key.bind(this);
  }

  /** Changes whenever a fetched key set replaces the one in use. */
  get generation(): number {
    return (this.applied as { uat?: number }).uat ?? 0;
  }

  private async key(
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<webcrypto.CryptoKey> {
    const now = Date.now();
    if (now - this.refreshedAt > JWKS_REFRESH_MS && this.remote.jwks() !== undefined) {
      this.refreshedAt = now;
      this.remote.reload().catch(this.onRefreshFailed);
    }
    try {
      return await this.remote(header, token);
    } catch (error) {
      if (error instanceof errors.JOSEError && TOKEN_ERRORS.has(error.code)) throw error;
      // A refetch for an unknown kid failed but older keys are in hand: the kid is unknown.
      if (this.remote.jwks() !== undefined) throw new errors.JWKSNoMatchingKey();
      throw new JwksUnavailableError('the JWKS could not be fetched', { cause: error });
    }
  }
}

/** jose errors that describe the token, not the key set's transport. */
const TOKEN_ERRORS: ReadonlySet<string> = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JOSE_NOT_SUPPORTED',
]);

/** Key sets by JWKS URL, shared by routes and across reloads so a reload refetches nothing. */
const keySources = new Map<string, KeySource>();
/** Bound on keySources: URLs of configs long gone are dropped oldest first. */
const MAX_KEY_SOURCES = 64;

export function keySourceFor(url: string, onRefreshFailed: (error: unknown) => void): KeySource {
  let source = keySources.get(url);
  if (source === undefined) {
    source = new KeySource(url, onRefreshFailed);
    if (keySources.size >= MAX_KEY_SOURCES) {
      const oldest = keySources.keys().next().value as string;
      keySources.delete(oldest);
    }
    keySources.set(url, source);
  }
  return source;
}

/** What a failed verification means, from jose's error. Pure. */
export function failureResult(error: unknown): Refusal {
  if (error instanceof JwksUnavailableError || error instanceof SecretJwksUnavailableError)
    return 'jwks-unavailable';
  if (!(error instanceof errors.JOSEError)) return 'invalid';
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = error instanceof errors.JWTClaimValidationFailed ? error.claim : '';
      if (claim === 'nbf') return 'not-yet-valid';
      if (claim === 'aud') return 'wrong-audience';
      if (claim === 'iss') return 'wrong-issuer';
      return 'invalid';
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm-not-allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad-signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'unknown-key';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'malformed';
    default:
      return 'invalid';
  }
}

/** The token of an `Authorization: Bearer` header; '' when there is a header but no token. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  if (authorization.length < 7 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return '';
  return authorization.slice(7).trim();
}

/** Whether a claim value holds one of the wanted values (a scope string is split on spaces). */
export function claimHolds(value: unknown, wanted: readonly string[]): boolean {
  if (typeof value === 'string')
    return wanted.includes(value) || value.split(' ').some((v) => wanted.includes(v));
  if (typeof value === 'number' || typeof value === 'boolean')
    return wanted.includes(String(value));
  if (Array.isArray(value)) return value.some((v) => typeof v === 'string' && wanted.includes(v));
  return false;
}

/** A claim as a header value: strings and numbers as they are, anything else as JSON. */
export function claimHeaderValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

type Refusal = Exclude<AuthResult, 'ok' | 'anonymous'>;

/** The gateway's answer to a refused request, built once per result. */
function refusalAnswer(result: Refusal): Answer {
  const challenge = (error: string, description: string) => ({
    'www-authenticate': `Bearer realm="figway", error="${error}", error_description="${description}"`,
  });
  switch (result) {
    case 'missing':
      return {
        status: 401,
        reason: 'jwt-missing',
        message: 'this route needs a bearer token (Authorization: Bearer <JWT>)',
        headers: { 'www-authenticate': 'Bearer realm="figway"' },
      };
    case 'forbidden':
      return {
        status: 403,
        reason: 'jwt-forbidden',
        message:
          "the bearer token lacks a claim this route requires (see the route's requiredClaims)",
        headers: challenge('insufficient_scope', 'required claims not met'),
      };
    case 'jwks-unavailable':
      return {
        status: 503,
        reason: 'jwt-jwks-unavailable',
        message:
          "the issuer's keys (jwksUri or jwksSecretRef) could not be read; try again shortly",
        headers: { 'retry-after': '5' },
      };
    default:
      return {
        status: 401,
        reason: `jwt-${result}`,
        message: `the bearer token was refused: ${result}`,
        headers: challenge('invalid_token', result),
      };
  }
}

const ANSWERS: ReadonlyMap<Refusal, Answer> = new Map(
  AUTH_RESULTS.filter((r): r is Refusal => r !== 'ok' && r !== 'anonymous').map((r) => [
    r,
    refusalAnswer(r),
  ]),
);

/** Bytes of tokens a route remembers as verified (about 2,000 tokens of 1 KiB). */
export const VERIFIED_TOKENS_BYTES = 2 * 1024 * 1024;

/** Where a route's keys come from: a remote JWKS (KeySource) or a Secret's (JwksRing). */
interface Keys {
  readonly getKey: JWTVerifyGetKey;
  /** Changes when the key set does. */
  readonly generation: number;
}

interface Verified {
  readonly claims: Record<string, unknown>;
  /** exp plus the clock skew, in seconds since the epoch. */
  readonly until: number;
  readonly generation: number;
}

/** One route's JWT check, prepared once per config. */
class JwtCheck {
  /**
   * Tokens this route verified, by their exact text: a client sends the same token until it
   * expires, and checking its signature again would cost more than proxying the request
   * (RS256/ES256 verification, measured in bench:gateway). A hit is used only while the
   * token is unexpired and the key set is the one that verified it; failures are never
   * kept. Bounded by bytes (tokens may be 8 KiB), least recently used out first.
   */
  private readonly verified = new LRUCache<string, Verified>({
    maxSize: VERIFIED_TOKENS_BYTES,
    sizeCalculation: (_value, token) => token.length + 64,
  });
  private readonly options;
  private readonly counters: (CounterSeries<'route' | 'policy' | 'result'> | undefined)[] = [];
  private readonly headerNames: readonly string[];

  constructor(
    private readonly jwt: CompiledJwt,
    private readonly keys: Keys,
    private readonly counter: (result: AuthResult) => CounterSeries<'route' | 'policy' | 'result'>,
  ) {
    this.options = {
      issuer: jwt.issuer,
      audience: jwt.audiences,
      algorithms: jwt.algorithms,
      clockTolerance: jwt.clockSkewSeconds,
      // A token without an expiry would be good forever.
      requiredClaims: ['exp'],
    };
    this.headerNames = jwt.claimsToHeaders.map((c) => c.header);
  }

  private count(result: AuthResult): void {
    const index = AUTH_RESULTS.indexOf(result);
    (this.counters[index] ??= this.counter(result)).inc();
  }

  private refuse(result: Refusal): Answer {
    this.count(result);
    return ANSWERS.get(result) as Answer;
  }

  /** Runs the check; resolves to an answer when the request may not go on. */
  check(ctx: StageContext): Answer | undefined | Promise<Answer | undefined> {
    // Headers filled from claims are never the client's, whether or not a token comes.
    const upstream = ctx.upstreamHeaders;
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- header names are data
    for (const name of this.headerNames) delete upstream[name];
    const header = ctx.req.headers.authorization;
    const token = bearerToken(header);
    if (token === undefined) {
      if (!this.jwt.optional) return this.refuse('missing');
      this.count('anonymous');
      return undefined;
    }
    if (token === '') return this.refuse('malformed');
    if (token.length > MAX_TOKEN_BYTES) return this.refuse('oversized');
    const known = this.verified.get(token);
    if (
      known !== undefined &&
      known.generation === this.keys.generation &&
      Date.now() / 1000 < known.until
    )
      return this.admit(ctx, known.claims);
    return this.verify(ctx, token);
  }

  private async verify(ctx: StageContext, token: string): Promise<Answer | undefined> {
    const generation = this.keys.generation;
    let claims: Record<string, unknown>;
    try {
      claims = (await jwtVerify(token, this.keys.getKey, this.options)).payload;
    } catch (error) {
      return this.refuse(failureResult(error));
    }
    // exp is a required claim, so jwtVerify checked it is a number.
    const until = (claims.exp as number) + this.jwt.clockSkewSeconds;
    // Kept under the keys as they were before: if a refetch changed them meanwhile, the
    // next request verifies again rather than trust a key that may have left the set.
    this.verified.set(token, { claims, until, generation });
    return this.admit(ctx, claims);
  }

  /** A verified token: its claims must satisfy the route, then go to later stages and upstream. */
  private admit(ctx: StageContext, claims: Record<string, unknown>): Answer | undefined {
    for (const required of this.jwt.requiredClaims) {
      if (!claimHolds(claims[required.claim], required.values)) return this.refuse('forbidden');
    }
    const upstream = ctx.upstreamHeaders;
    for (const { claim, header } of this.jwt.claimsToHeaders) {
      const value = claimHeaderValue(claims[claim]);
      if (value !== undefined) upstream[header] = value;
    }
    ctx.claims = claims;
    this.count('ok');
    return undefined;
  }
}

export const jwtStage: StageBuilder = (route, services) => {
  // Unmatched traffic (no route) follows spec.defaults.
  const jwt = route !== undefined ? route.jwt : services.table.defaults?.jwt;
  if (jwt === undefined) return undefined;
  const name = route?.name ?? UNMATCHED_ROUTE;
  const { logger, metrics } = services;
  const { jwksUri, jwksSecretRef } = jwt;
  // The schema allows exactly one of jwksUri and jwksSecretRef.
  const keys =
    jwksSecretRef !== undefined
      ? services.secrets.jwks(jwksSecretRef.name, jwksSecretRef.key)
      : keySourceFor(jwksUri as string, (error: unknown) => {
          logger.warn('JWKS refresh failed; the last good keys stay in use', {
            jwksUri,
            error: error instanceof Error ? error.message : String(error),
          });
        });
  const check = new JwtCheck(jwt, keys, (result) =>
    metrics.authResults.labels({ route: name, policy: 'jwt', result }),
  );
  return {
    name: 'jwt',
    onRequest(ctx) {
      return check.check(ctx);
    },
  };
};
