// One comparison of two captured answers: the status, the chosen headers, and the body,
// structurally when it is JSON, byte for byte otherwise. Bodies are compared as the
// representation they carry: a gzip-encoded answer and a plain one with the same JSON are
// the same answer, so encoded bodies are decoded first (bounded, so a decompression bomb
// is one more answer too large to compare).
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';
import type { Headers } from '../transforms.js';
import type { Differences } from './differences.js';
import type { IgnoreMatcher } from './ignore.js';
import { diffJson } from './json-diff.js';

/** An answer as the shadow stage captured it: whole, within maxBodyBytes. */
export interface CapturedResponse {
  readonly status: number;
  /** Lower-case names, as Node and undici give them. */
  readonly headers: Headers;
  readonly body: Buffer;
}

export interface CompareOptions {
  /** Response headers compared, lower-case. */
  readonly headers: readonly string[];
  readonly ignore: IgnoreMatcher;
  /** Largest decoded body; a larger one is compared as the bytes it was sent as. */
  readonly maxBodyBytes: number;
}

/** Field names of the parts of an answer that are not a JSON path. */
export const STATUS_FIELD = 'status';
export const BODY_FIELD = 'body';
export function headerField(name: string): string {
  return `headers.${name}`;
}

function headerValue(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** application/json, or any structured syntax suffix +json (application/problem+json). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  const type = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * The body without its content coding (gzip, deflate, br, zstd), or undefined when it has
 * one the gateway cannot undo within `max` bytes.
 */
export function decodedBody(response: CapturedResponse, max: number): Buffer | undefined {
  const coding = headerValue(response.headers, 'content-encoding')?.trim().toLowerCase();
  if (coding === undefined || coding === '' || coding === 'identity') return response.body;
  const options = { maxOutputLength: max };
  try {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(response.body, options);
      case 'deflate':
        return inflateSync(response.body, options);
      case 'br':
        return brotliDecompressSync(response.body, options);
      case 'zstd':
        return zstdDecompressSync(response.body, options);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

function compareBodies(
  primary: CapturedResponse,
  candidate: CapturedResponse,
  options: CompareOptions,
  out: Differences,
): void {
  if (options.ignore.rootIgnored || primary.body.equals(candidate.body)) return;
  const p = decodedBody(primary, options.maxBodyBytes);
  const c = decodedBody(candidate, options.maxBodyBytes);
  if (p === undefined || c === undefined) {
    out.add(BODY_FIELD, primary.body, candidate.body);
    return;
  }
  if (p.equals(c)) return;
  const json =
    isJsonMediaType(headerValue(primary.headers, 'content-type')) ||
    isJsonMediaType(headerValue(candidate.headers, 'content-type'));
  if (json) {
    const pj = parseJson(p);
    const cj = parseJson(c);
    if (pj.ok && cj.ok) {
      diffJson(pj.value, cj.value, options.ignore, out);
      return;
    }
  }
  out.add(BODY_FIELD, p, c);
}

/** Adds to `out` every field in which `candidate` differs from `primary`. */
export function compareResponses(
  primary: CapturedResponse,
  candidate: CapturedResponse,
  options: CompareOptions,
  out: Differences,
): void {
  if (primary.status !== candidate.status) out.add(STATUS_FIELD, primary.status, candidate.status);
  for (const name of options.headers) {
    const p = headerValue(primary.headers, name);
    const c = headerValue(candidate.headers, name);
    if (p !== c) out.add(headerField(name), p, c);
  }
  compareBodies(primary, candidate, options, out);
}
