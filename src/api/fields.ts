// Reusable field schemas for the ApiRoute API. Each carries the bounds that both zod and
// the API server enforce (the CRD is generated from these), so the limits live in one place.
import { z } from 'zod';
import { parseCidr } from './ip.js';
import { QUANTITY } from './quantity.js';

/** DNS-1123 label: Kubernetes Service names, route names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** DNS-1123 subdomain: Secret and ConfigMap names (dot-separated labels). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An RFC 9110 token: header and cookie names. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Durations in the Gateway API grammar (GEP-2257): up to four number-unit parts, e.g. 250ms,
 * 5s, 1m30s, 1h. Every string it admits is also a Go duration, so CEL's duration() in the
 * CRD's rules reads it the same way.
 */
export const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

/** Longest GEP-2257 duration: four parts of five digits and a two-letter unit. */
const MAX_DURATION_LENGTH = 28;

/** Upper bound for match values and regular expressions (see also regex.ts's program size). */
export const MAX_REGEX_LENGTH = 1024;

export function dnsLabel(description: string) {
  return z
    .string()
    .max(63, { error: (i) => `must be at most 63 characters, got ${(i.input as string).length}` })
    .regex(DNS_LABEL, {
      error: (i) =>
        `must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit), got ${JSON.stringify(i.input)}`,
    })
    .meta({ description });
}

export function dnsSubdomain(description: string) {
  return z
    .string()
    .max(253, { error: (i) => `must be at most 253 characters, got ${(i.input as string).length}` })
    .regex(DNS_SUBDOMAIN, {
      error: (i) =>
        `must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got ${JSON.stringify(i.input)}`,
    })
    .meta({ description });
}

export function port(description: string) {
  return z
    .int({ error: (i) => `must be an integer port, got ${JSON.stringify(i.input)}` })
    .min(1, { error: (i) => `must be between 1 and 65535, got ${String(i.input)}` })
    .max(65535, { error: (i) => `must be between 1 and 65535, got ${String(i.input)}` })
    .meta({ description });
}

export function httpUrl(description: string) {
  return z
    .string()
    .max(2048)
    .regex(/^https?:\/\/[^\s/?#]+/, {
      error: (i) => `must be an absolute http:// or https:// URL, got ${JSON.stringify(i.input)}`,
    })
    .refine((value) => URL.canParse(value), { error: 'must be a valid URL' })
    .meta({ description });
}

export function headerName(description: string) {
  return z
    .string()
    .min(1)
    .max(256)
    .regex(TOKEN, {
      error: (i) =>
        `must be a valid HTTP header name (RFC 9110 token), got ${JSON.stringify(i.input)}`,
    })
    .meta({ description });
}

export function duration(description: string) {
  return z
    .string()
    .max(MAX_DURATION_LENGTH)
    .regex(DURATION, {
      error: (i) =>
        `must be a duration such as 250ms, 5s, 2m, 1m30s or 1h (Gateway API duration: up to four parts of 1-5 digits and h, m, s or ms), got ${JSON.stringify(i.input)}`,
    })
    .meta({ description });
}

/** A match value or RE2 regular expression, bounded in length (regex.ts checks the syntax). */
export function regex(description: string) {
  return z
    .string()
    .min(1)
    .max(MAX_REGEX_LENGTH, {
      error: (i) =>
        `must be at most ${MAX_REGEX_LENGTH} characters, got ${(i.input as string).length}`,
    })
    .meta({ description });
}

const DURATION_PART = /([0-9]+)(ms|h|m|s)/g;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Parses a DURATION string into milliseconds: the sum of its parts, as Go does. */
export function durationToMs(value: string): number {
  if (!DURATION.test(value)) throw new Error(`invalid duration ${JSON.stringify(value)}`);
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(DURATION_PART))
    ms += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return ms;
}

/**
 * A Kubernetes resource quantity (cpu: 100m, memory: 128Mi). YAML lets users write plain
 * numbers (cpu: 1), so the CRD declares int-or-string and zod normalises to a string.
 * With a default, the field is optional and the CRD states the default.
 */
export function quantity(description: string, defaultValue?: string) {
  const value = z.union([z.string(), z.number()]);
  // The default goes on the union, before the transform, so the CRD carries it too.
  return (defaultValue === undefined ? value : value.default(defaultValue))
    .transform((v) => String(v))
    .pipe(
      z.string().regex(QUANTITY, {
        error: (i) =>
          `must be a Kubernetes quantity such as 100m or 128Mi, got ${JSON.stringify(i.input)}`,
      }),
    )
    .meta({ description, 'x-kubernetes-int-or-string': true });
}

/** Longest CIDR text: a full IPv6 address with an embedded IPv4 one, and /128. */
export const MAX_CIDR_LENGTH = 49;

/**
 * A CIDR range or a single address (ip.ts has the grammar). The API server checks the
 * same with its CEL IP and CIDR libraries (Kubernetes 1.31+); zod adds the fix to the
 * message.
 */
export function cidr(description: string) {
  return z
    .string()
    .max(MAX_CIDR_LENGTH, {
      error: (i) =>
        `${JSON.stringify(i.input)} is not a CIDR: longer than ${MAX_CIDR_LENGTH} characters; use e.g. 10.0.0.0/8 or fd00::/8`,
    })
    .superRefine((value, ctx) => {
      const parsed = parseCidr(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
    })
    .meta({
      description,
      'x-kubernetes-validations': [
        {
          rule: 'isCIDR(self) || isIP(self)',
          message: 'must be a CIDR such as 10.0.0.0/8 or fd00::/8, or a single address',
        },
        {
          rule: '!isCIDR(self) || cidr(self) == cidr(self).masked()',
          message:
            'has bits set after the prefix; use the network address (10.0.0.0/8, not 10.1.2.3/8)',
        },
      ],
    });
}
