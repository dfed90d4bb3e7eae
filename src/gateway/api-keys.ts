// API keys as the gateway holds them: per Secret, a map from the SHA-256 digest of each key
// to its consumer. The keys themselves are never kept, logged or compared as strings.
//
// Constant time: a presented key is hashed (a cost that depends only on its own length),
// the digest is looked up in the map, and a hit is confirmed with crypto.timingSafeEqual
// over the two 32-byte digests. Looking up a digest rather than looping over every key with
// timingSafeEqual keeps the cost the same whatever the number of consumers, and the lookup's
// timing can only tell an attacker about the digest of their own guess: learning anything
// about a stored key from it would need a SHA-256 preimage.
import { hash, timingSafeEqual } from 'node:crypto';

interface StoredKey {
  readonly consumer: string;
  readonly digest: Buffer;
}

/** The keys of one Secret, by digest. Immutable: a change of the Secret builds a new one. */
export interface KeySet {
  readonly byDigest: ReadonlyMap<string, StoredKey>;
}

export type KeySetResult = { ok: true; keys: KeySet } | { ok: false; message: string };

/** Header values lose surrounding whitespace (RFC 9110 §5.5), so a key is compared without it. */
function keyText(value: string): string {
  return value.trim();
}

function digestOf(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/**
 * Builds a key set from a Secret's decoded data (consumer name → key). Pure. A Secret with
 * an empty key or one key shared by two consumers is refused as a whole, naming the
 * consumers, so the gateway keeps the last good keys rather than guess who is calling.
 */
export function parseKeySet(data: Readonly<Record<string, string>>): KeySetResult {
  const byDigest = new Map<string, StoredKey>();
  for (const consumer of Object.keys(data).sort()) {
    const key = keyText(data[consumer] ?? '');
    if (key === '') return { ok: false, message: `the key of consumer ${consumer} is empty` };
    const digest = digestOf(key);
    const id = digest.toString('latin1');
    const other = byDigest.get(id);
    if (other !== undefined) {
      return {
        ok: false,
        message: `consumers ${other.consumer} and ${consumer} have the same key; give each its own`,
      };
    }
    byDigest.set(id, { consumer, digest });
  }
  return { ok: true, keys: { byDigest } };
}

/** The consumer a presented key belongs to, or undefined. */
export function consumerOf(keys: KeySet, presented: string): string | undefined {
  const digest = digestOf(keyText(presented));
  const hit = keys.byDigest.get(digest.toString('latin1'));
  return hit !== undefined && timingSafeEqual(hit.digest, digest) ? hit.consumer : undefined;
}

/**
 * The current keys of one Secret. Stages hold the ring, built once per config; the Secret's
 * source swaps `keys` in place, so a rotated key takes effect on the next request.
 */
export class KeyRing {
  /** Undefined until the Secret has been read once; then the last good keys, kept on errors. */
  keys: KeySet | undefined;

  constructor(readonly secretName: string) {}
}
