// spec.routes[].cache and spec.defaults.cache: response caching in the gateway (issue 15),
// and spec.gateway.cachePurge, the token that guards purges through the admin port. The
// schema, its compiled form in the route table and the check against the pod's memory
// limit live here; schema.ts and route-table.ts only hook them in.
import { z } from 'zod';
import { dnsSubdomain, duration, DURATION, durationToMs, headerName, quantity } from './fields.js';
import { quantityValue } from './quantity.js';

/** Most request headers a key may name (each adds its value to every key). */
export const MAX_CACHE_KEY_HEADERS = 16;
/** Largest maxBytes: far above any pod's memory, a bound the CEL rules need. */
const MAX_CACHE_BYTES = 64 * 1024 ** 3;
/**
 * The gateway container's memory limit when spec.gateway.resources is absent (the
 * operator's DEFAULT_RESOURCES say the same).
 */
export const DEFAULT_GATEWAY_MEMORY_LIMIT = '256Mi';

/** A quantity of bytes with the bounds both zod and the API server check. */
function bytesField(description: string, defaultValue: string) {
  return quantity(description, defaultValue).meta({ maxLength: 16 });
}

/** Whole bytes of a validated quantity, or NaN when it is none (zod then says why). */
export function byteCount(text: string): number {
  const value = quantityValue(text);
  return value === undefined ? Number.NaN : Math.floor(value);
}

export const CacheSchema = z
  .strictObject({
    ttl: duration(
      "Longest a response is served from the cache, e.g. 30s. An upper bound: the upstream's Cache-Control (max-age, s-maxage, Expires) may make it shorter, never longer.",
    ).default('30s'),
    maxBytes: bytesField(
      "Memory this route's cache may hold in each gateway pod, bodies and headers counted (e.g. 64Mi); the least recently used responses go first. All cached routes together may take at most half the pod's memory limit.",
      '64Mi',
    ),
    maxBodyBytes: bytesField(
      'Largest response body kept (e.g. 1Mi); a larger response streams through to the client uncached, never buffered. At most maxBytes.',
      '1Mi',
    ),
    key: z
      .strictObject({
        includeQuery: z.boolean().default(true).meta({
          description:
            'Whether the query string is part of the key. false: /items?a=1 and /items?a=2 share one entry.',
        }),
        headers: z
          .array(headerName('A request header whose value is part of the key.'))
          .max(MAX_CACHE_KEY_HEADERS, {
            error: `must list at most ${MAX_CACHE_KEY_HEADERS} headers`,
          })
          .default([])
          .meta({
            description:
              "Request headers whose values are part of the key, beyond those the response's Vary names, e.g. [accept-language].",
          }),
      })
      .prefault({})
      .meta({
        description:
          'What tells entries apart besides method, host, normalised path, backend and Vary.',
      }),
    perUser: z.boolean().default(false).meta({
      description:
        "false: requests with credentials (an Authorization header, a verified JWT, an API key) bypass the cache, so no user ever gets another's answer. true: they are cached per user (the API-key consumer, else the JWT's iss and sub, else the Authorization header), and still only when the upstream allows a shared cache to store them (Cache-Control: public or s-maxage).",
    }),
  })
  .superRefine((cache, ctx) => {
    if (DURATION.test(cache.ttl) && durationToMs(cache.ttl) <= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['ttl'],
        message: `must be greater than 0, got ${cache.ttl}; remove cache to turn caching off`,
      });
    }
    const maxBytes = byteCount(cache.maxBytes);
    const maxBodyBytes = byteCount(cache.maxBodyBytes);
    for (const [field, bytes, text] of [
      ['maxBytes', maxBytes, cache.maxBytes],
      ['maxBodyBytes', maxBodyBytes, cache.maxBodyBytes],
    ] as const) {
      if (!(bytes >= 1 && bytes <= MAX_CACHE_BYTES) || text.length > 16) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must be a quantity between 1 and 64Gi, got ${text}`,
        });
      }
    }
    if (maxBodyBytes > maxBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxBodyBytes'],
        message: `must be at most maxBytes (${cache.maxBytes}), got ${cache.maxBodyBytes}`,
      });
    }
  })
  .meta({
    description:
      'Response caching (RFC 9111, as a shared cache): GET and HEAD answers the upstream lets a shared cache store (Cache-Control, Expires, Vary; never private, no-store or Set-Cookie), served with an Age header and x-figway-cache: hit. Revalidates with ETag / Last-Modified, coalesces concurrent misses into one upstream request, and honours stale-while-revalidate and stale-if-error. A config change to the route drops its entries.',
    'x-kubernetes-validations': [
      {
        rule: "duration(self.ttl) > duration('0s')",
        message: 'ttl must be greater than 0',
        fieldPath: '.ttl',
      },
      {
        rule: '!isQuantity(string(self.maxBytes)) || !isQuantity(string(self.maxBodyBytes)) || quantity(string(self.maxBodyBytes)).compareTo(quantity(string(self.maxBytes))) <= 0',
        message: 'maxBodyBytes must be at most maxBytes',
        fieldPath: '.maxBodyBytes',
      },
    ],
  });

export const CachePurgeSchema = z
  .strictObject({
    tokenSecretRef: z
      .strictObject({
        name: dnsSubdomain('Secret in the ApiRoute namespace that holds the token.'),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(/^[-._a-zA-Z0-9]+$/, {
            error: (i) =>
              `must be a Secret data key (letters, digits, '-', '_', '.'), got ${JSON.stringify(i.input)}`,
          })
          .meta({ description: 'The data key of the token in that Secret.' }),
      })
      .meta({ description: 'Where the purge token is.' }),
  })
  .meta({
    description:
      'Lets the admin port purge cached responses (POST /cache/purge?route=NAME[&path=/p]) for a caller that sends this token as `Authorization: Bearer <token>`. The gateway reads only this Secret, and follows its changes. Without cachePurge, purges are refused.',
  });

export type Cache = z.output<typeof CacheSchema>;
export type CachePurge = z.output<typeof CachePurgeSchema>;

export const CompiledCacheSchema = z.object({
  ttlMs: z.number(),
  maxBytes: z.number(),
  maxBodyBytes: z.number(),
  includeQuery: z.boolean(),
  /** Lower-cased. */
  keyHeaders: z.array(z.string()),
  perUser: z.boolean(),
});
export type CompiledCache = z.output<typeof CompiledCacheSchema>;

export const CompiledCachePurgeSchema = z.object({ secretName: z.string(), key: z.string() });
export type CompiledCachePurge = z.output<typeof CompiledCachePurgeSchema>;

export function compileCache(cache: Cache): CompiledCache {
  return {
    ttlMs: durationToMs(cache.ttl),
    maxBytes: byteCount(cache.maxBytes),
    maxBodyBytes: byteCount(cache.maxBodyBytes),
    includeQuery: cache.key.includeQuery,
    keyHeaders: [...new Set(cache.key.headers.map((h) => h.toLowerCase()))],
    perUser: cache.perUser,
  };
}

export function compileCachePurge(purge: CachePurge): CompiledCachePurge {
  return { secretName: purge.tokenSecretRef.name, key: purge.tokenSecretRef.key };
}

interface CacheMemorySpec {
  gateway: { resources?: { limits?: { memory?: string } } | undefined };
  defaults?: { cache?: Cache | undefined } | undefined;
  routes: readonly { cache?: Cache | undefined }[];
}

/**
 * Every cache of one gateway pod together (each cached route's maxBytes, and spec.defaults'
 * for unmatched traffic) may take at most half the container's memory limit: the other
 * half is the V8 heap the gateway itself needs. No limit set: nothing to check against.
 */
export function checkCacheMemory(spec: CacheMemorySpec, ctx: z.RefinementCtx): void {
  const resources = spec.gateway.resources;
  const limitText =
    resources === undefined ? DEFAULT_GATEWAY_MEMORY_LIMIT : resources.limits?.memory;
  const limit = limitText === undefined ? undefined : quantityValue(limitText);
  if (limit === undefined) return;
  const fallback = spec.defaults?.cache;
  const caches = spec.routes.map((r, index) => ({
    cache: r.cache ?? fallback,
    path: r.cache !== undefined ? ['routes', index, 'cache', 'maxBytes'] : undefined,
  }));
  caches.push({ cache: fallback, path: ['defaults', 'cache', 'maxBytes'] });
  let total = 0;
  for (const { cache } of caches) if (cache !== undefined) total += byteCount(cache.maxBytes);
  if (!(total > limit / 2)) return;
  const where = caches.find((c) => c.cache !== undefined && c.path !== undefined)?.path;
  ctx.addIssue({
    code: 'custom',
    path: where ?? ['defaults', 'cache', 'maxBytes'],
    message: `the route caches of one gateway pod add up to ${String(total)} bytes (maxBytes per cached route, spec.defaults.cache counted once per route that inherits it and once for unmatched traffic), more than half of the memory limit ${limitText ?? ''} (spec.gateway.resources.limits.memory); lower maxBytes or raise the limit`,
  });
}
