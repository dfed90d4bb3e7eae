// The JSON paths a shadow comparison takes in `compare.ignore` and reports fields by: a
// small subset of RFC 9535 JSONPath, enough to name a field or a family of fields and no
// more, so the API server (a pattern), zod and the gateway agree on what is well formed.
//
//   $                     the whole body
//   .name                 a member whose name is [A-Za-z_][A-Za-z0-9_]*
//   ['name'] or ["name"]  any other member name (no quote of its kind, no backslash inside)
//   [*] or .*             every element of an array, or every member of an object
//   ..name or ..['name']  a member of that name at any depth below
//
// Array indices ([0]) are not part of it: the comparison groups every index as [*], so a
// difference in items[3] is counted as one in items[*].

/** One step of a parsed path. */
export type JsonPathStep =
  | { readonly kind: 'member'; readonly name: string }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'descendant'; readonly name: string };

const NAME = '[A-Za-z_][A-Za-z0-9_]*|\\[\'[^\'\\\\]*\'\\]|\\["[^"\\\\]*"\\]';
const STEP = `\\.\\.(?:${NAME})|\\.\\*|\\[\\*\\]|\\.(?:[A-Za-z_][A-Za-z0-9_]*)|\\['[^'\\\\]*'\\]|\\["[^"\\\\]*"\\]`;

/**
 * The grammar above as one regular expression, RE2-compatible (the API server checks it
 * as the field's pattern; zod with the same source).
 */
export const JSON_PATH_PATTERN = `^\\$(?:${STEP})*$`;
export const JSON_PATH = new RegExp(JSON_PATH_PATTERN);

/** Longest ignore path; paths name fields, they are not programs. */
export const MAX_JSON_PATH_LENGTH = 256;

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;

export type JsonPathParse =
  { ok: true; steps: JsonPathStep[] } | { ok: false; at: number; reason: string };

function readName(text: string, at: number): { name: string; end: number } | undefined {
  if (text[at] === '[') {
    const quote = text[at + 1];
    if (quote !== "'" && quote !== '"') return undefined;
    const close = text.indexOf(quote, at + 2);
    if (close < 0 || text[close + 1] !== ']') return undefined;
    const name = text.slice(at + 2, close);
    if (name.includes('\\')) return undefined;
    return { name, end: close + 2 };
  }
  if (!IDENTIFIER_START.test(text[at] ?? '')) return undefined;
  let end = at + 1;
  while (end < text.length && IDENTIFIER_PART.test(text[end] as string)) end += 1;
  return { name: text.slice(at, end), end };
}

/** Parses a path of the subset above; a failure says where and what is allowed there. */
export function parseJsonPath(text: string): JsonPathParse {
  if (text[0] !== '$') return { ok: false, at: 0, reason: "must start with '$'" };
  const steps: JsonPathStep[] = [];
  let at = 1;
  while (at < text.length) {
    const rest = text.slice(at);
    if (rest.startsWith('..')) {
      const name = readName(text, at + 2);
      if (name === undefined)
        return { ok: false, at: at + 2, reason: "'..' must be followed by a member name" };
      steps.push({ kind: 'descendant', name: name.name });
      at = name.end;
    } else if (rest.startsWith('.*') || rest.startsWith('[*]')) {
      steps.push({ kind: 'wildcard' });
      at += rest.startsWith('.*') ? 2 : 3;
    } else if (rest.startsWith('.')) {
      const name = readName(text, at + 1);
      if (name === undefined || text[at + 1] === '[')
        return {
          ok: false,
          at: at + 1,
          reason: "'.' must be followed by a name of letters, digits and '_' (or use ['name'])",
        };
      steps.push({ kind: 'member', name: name.name });
      at = name.end;
    } else if (rest.startsWith('[')) {
      const name = readName(text, at);
      if (name === undefined) {
        const reason = /^\[[0-9]/.test(rest)
          ? 'array indices are grouped as [*] in comparisons: use [*]'
          : 'a bracket must hold [\'name\'], ["name"] or *';
        return { ok: false, at, reason };
      }
      steps.push({ kind: 'member', name: name.name });
      at = name.end;
    } else {
      return { ok: false, at, reason: "expected '.name', ['name'], [*], .* or '..name'" };
    }
  }
  return { ok: true, steps };
}

/** Why a path is not well formed, as a message naming the position; undefined when it is. */
export function jsonPathError(text: string): string | undefined {
  const parsed = parseJsonPath(text);
  if (parsed.ok) return undefined;
  return `is not a supported JSON path at character ${parsed.at + 1} of ${JSON.stringify(text)}: ${parsed.reason}`;
}

/** A member step as the comparison writes it in field names: .name, or ["name"] otherwise. */
export function memberSegment(name: string): string {
  let plain = name.length > 0 && IDENTIFIER_START.test(name[0] as string);
  for (let i = 1; plain && i < name.length; i += 1) plain = IDENTIFIER_PART.test(name[i] as string);
  if (plain) return `.${name}`;
  if (!name.includes('\\')) {
    if (!name.includes("'")) return `['${name}']`;
    if (!name.includes('"')) return `["${name}"]`;
  }
  // Outside the subset (both quotes, or a backslash): readable, though not an ignore path.
  return `[${JSON.stringify(name)}]`;
}
