// Validation at the boundary: turns untrusted input into a typed ApiRoute with defaults
// applied, or into a list of errors that each name the field, what is wrong and what is
// allowed. Nothing else ever comes out: no exception escapes for any input.
import type { z } from 'zod';
import { ApiRouteSchema, type ApiRoute } from './schema.js';

export interface FieldError {
  /** Field path as users write it, e.g. spec.routes[2].backends[0].weight. */
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; value: ApiRoute } | { ok: false; errors: FieldError[] };

/** Formats a zod path as a field path: ['spec', 'routes', 2, 'name'] → spec.routes[2].name. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      const plain = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key);
      out += plain ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** One readable sentence per zod issue; custom messages from the schema are kept as they are. */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `is required (${issue.expected})`;
      return `must be ${article(issue.expected === 'int' ? 'integer' : issue.expected)}, got ${describe(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: check the spelling against the ApiRoute reference`;
    case 'invalid_value':
      if (issue.message && !issue.message.startsWith('Invalid')) return issue.message;
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}, got ${describe(issue.input)}`;
    case 'too_big':
    case 'too_small': {
      if (issue.message && !issue.message.startsWith('Too') && !issue.message.startsWith('Invalid'))
        return issue.message;
      const bound = issue.code === 'too_big' ? 'at most' : 'at least';
      const limit = issue.code === 'too_big' ? issue.maximum : issue.minimum;
      const unit =
        issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : '';
      return `must be ${bound} ${String(limit)}${unit}`;
    }
    default:
      return issue.message;
  }
}

/** Validates an ApiRoute; the result carries either the typed value or every error found. */
export function validateApiRoute(input: unknown): ValidationResult {
  // reportInput: messages quote the offending value ("got 150").
  const parsed = ApiRouteSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, errors: fieldErrors(parsed.error) };
}

/** The errors of a failed parse, each naming its field (for inputs other than ApiRoutes too). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issueMessage(issue),
  }));
}

/** One field error as every message shows it: `path: message`. */
export function formatFieldError(error: FieldError): string {
  return `${error.path}: ${error.message}`;
}

/** Errors as `path: message`, one per line, or joined by `separator` for a one-line message. */
export function formatErrors(errors: readonly FieldError[], separator = '\n'): string {
  return errors.map(formatFieldError).join(separator);
}
