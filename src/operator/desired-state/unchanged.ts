// Deciding that an apply would change nothing, so reconcile can skip it.
//
// Every reconcile used to re-apply all seven objects, and an ApiRoute is reconciled several
// times around each change (its own status write, each owned object's update, the
// Deployment's rollout). Skipping an apply is safe only when both hold:
//  - the desired object is the one this operator last applied (same fingerprint), so no
//    field was dropped from it: server-side apply would remove a dropped field, while the
//    live object still has it; and
//  - the live object still carries every desired field with the desired value, so nobody
//    has changed or removed a field the operator owns since.
// Fields only the live object has (defaults, status, other managers' fields) do not count.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';

/** A stable digest of a desired object (the builders emit keys in a fixed order). */
export function desiredFingerprint(desired: KubernetesObject): string {
  return createHash('sha256').update(JSON.stringify(desired)).digest('base64url');
}

/**
 * True when `live` has every field of `desired` with the same value: objects by key (extra
 * live keys allowed), lists element by element with the same length, scalars strictly.
 */
export function coversDesired(live: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      live.length === desired.length &&
      desired.every((item, index) => coversDesired(live[index], item))
    );
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    const liveFields = live as Record<string, unknown>;
    return Object.entries(desired).every(([field, value]) =>
      coversDesired(liveFields[field], value),
    );
  }
  return live === desired;
}
