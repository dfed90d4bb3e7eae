// What the gateway holds of the Secrets its config names, as the stages use it: per Secret
// the API keys (api-keys.ts, for auth.apiKey) and per Secret data key a JWKS (for
// auth.jwt.jwksSecretRef). Stages hold rings built once per config; the Secrets' source
// (secret-source.ts) swaps their contents in place, so a rotation applies on the next
// request. Nothing broken ever replaces good contents.
import type { webcrypto } from 'node:crypto';
import {
  createLocalJWKSet,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import type { SecretUse } from '../api/index.js';
import { KeyRing } from './api-keys.js';

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

export type JwksResult = { ok: true; keys: LocalKeySet } | { ok: false; message: string };

/**
 * Reads a JWKS from a Secret's text. Pure. Refuses what jose's key set would refuse later,
 * per request, and private keys, which have no business in a gateway's verification keys.
 */
export function parseJwks(text: string | undefined): JwksResult {
  if (text === undefined) return { ok: false, message: 'the key is missing' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `not JSON: ${(error as Error).message}` };
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    return { ok: false, message: 'not a JSON Web Key Set: expected {"keys": [<JWK>, …]}' };
  }
  const index = keys.findIndex(
    (k: unknown) =>
      typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string',
  );
  if (index >= 0) return { ok: false, message: `keys[${index}] is not a JWK (no kty)` };
  const private_ = keys.findIndex((k: { d?: unknown }) => k.d !== undefined);
  if (private_ >= 0) {
    return { ok: false, message: `keys[${private_}] is a private key; publish only public keys` };
  }
  try {
    return { ok: true, keys: createLocalJWKSet(value as JSONWebKeySet) };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

/** Thrown while a ring has never held a good key set: the jwt stage answers 503. */
export class SecretJwksUnavailableError extends Error {
  override readonly name = 'SecretJwksUnavailableError';
}

/** The current key set of one Secret data key. */
export class JwksRing {
  private current: LocalKeySet | undefined;
  /** Counts key-set changes, so verifications made with older keys are not reused. */
  generation = 0;

  /** Undefined until a good key set was read; then the last good one, kept on errors. */
  get keys(): LocalKeySet | undefined {
    return this.current;
  }

  set keys(keys: LocalKeySet | undefined) {
    this.current = keys;
    this.generation += 1;
  }

  constructor(
    readonly secretName: string,
    readonly key: string,
  ) {}

  /** For jwtVerify: resolves a token's key from the current set. */
  getKey = (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<webcrypto.CryptoKey> => {
    const keys = this.keys;
    if (keys === undefined) {
      return Promise.reject(
        new SecretJwksUnavailableError(
          `no JWKS read from Secret ${this.secretName} key ${this.key}`,
        ),
      );
    }
    return keys(header, token);
  };
}

/** Every ring, by Secret (and data key): shared by the stages and the Secrets' source. */
export class SecretStore {
  private readonly keyRings = new Map<string, KeyRing>();
  private readonly jwksRings = new Map<string, JwksRing>();

  apiKeys(secretName: string): KeyRing {
    let ring = this.keyRings.get(secretName);
    if (ring === undefined) {
      ring = new KeyRing(secretName);
      this.keyRings.set(secretName, ring);
    }
    return ring;
  }

  jwks(secretName: string, key: string): JwksRing {
    const id = `${secretName}/${key}`;
    let ring = this.jwksRings.get(id);
    if (ring === undefined) {
      ring = new JwksRing(secretName, key);
      this.jwksRings.set(id, ring);
    }
    return ring;
  }

  /** Forgets what no config reads any more, so old keys do not linger in memory. */
  retain(uses: readonly SecretUse[]): void {
    const keyNames = new Set(uses.filter((u) => u.apiKeys).map((u) => u.name));
    const jwksIds = new Set(uses.flatMap((u) => u.jwksKeys.map((k) => `${u.name}/${k}`)));
    for (const name of [...this.keyRings.keys()]) {
      if (!keyNames.has(name)) this.keyRings.delete(name);
    }
    for (const id of [...this.jwksRings.keys()]) {
      if (!jwksIds.has(id)) this.jwksRings.delete(id);
    }
  }
}
