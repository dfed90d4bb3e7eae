// Structural comparison of two JSON documents, field by field. A field is named by its
// JSON path with every array index grouped as [*] ($.items[*].price), so a difference
// in the third item and one in the fifth count as the same field. Members in one answer
// and not the other are differences at their own path; a change of type (number vs
// string, object vs array) is one difference at the node, not one per member below it.
import { memberSegment } from '../../api/json-path.js';
import type { Differences } from './differences.js';
import type { IgnoreMatcher, IgnoreState } from './ignore.js';
import { INDEX } from './ignore.js';

/** Below this depth, subtrees are compared whole: one field, however deep the change. */
export const MAX_DIFF_DEPTH = 32;

type JsonKind = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean' | 'other';

function kindOf(value: unknown): JsonKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const type = typeof value;
  return type === 'object' || type === 'string' || type === 'number' || type === 'boolean'
    ? type
    : 'other';
}

/** Deep equality of JSON values, with an explicit stack: documents may nest past any recursion limit. */
export function sameJson(a: unknown, b: unknown): boolean {
  const stack: unknown[] = [a, b];
  while (stack.length > 0) {
    const y = stack.pop();
    const x = stack.pop();
    if (x === y) continue;
    const kind = kindOf(x);
    if (kind !== kindOf(y)) return false;
    if (kind === 'array') {
      const xs = x as unknown[];
      const ys = y as unknown[];
      if (xs.length !== ys.length) return false;
      for (let i = 0; i < xs.length; i += 1) stack.push(xs[i], ys[i]);
    } else if (kind === 'object') {
      const xo = x as Record<string, unknown>;
      const yo = y as Record<string, unknown>;
      const keys = Object.keys(xo);
      if (keys.length !== Object.keys(yo).length) return false;
      for (const key of keys) {
        if (!Object.hasOwn(yo, key)) return false;
        stack.push(xo[key], yo[key]);
      }
    } else {
      return false;
    }
  }
  return true;
}

function walk(
  primary: unknown,
  candidate: unknown,
  path: string,
  state: IgnoreState,
  depth: number,
  ignore: IgnoreMatcher,
  out: Differences,
): void {
  if (primary === candidate || out.isFull()) return;
  const kind = kindOf(primary);
  if (kind !== kindOf(candidate) || (kind !== 'array' && kind !== 'object')) {
    out.add(path, primary, candidate);
    return;
  }
  if (depth >= MAX_DIFF_DEPTH) {
    if (!sameJson(primary, candidate)) out.add(path, primary, candidate);
    return;
  }
  if (kind === 'array') {
    const below = ignore.child(state, INDEX);
    if (below === null) return;
    const field = `${path}[*]`;
    const ps = primary as unknown[];
    const cs = candidate as unknown[];
    const length = Math.max(ps.length, cs.length);
    for (let i = 0; i < length && !out.isFull(); i += 1) {
      if (i >= ps.length || i >= cs.length) out.add(field, ps[i], cs[i]);
      else walk(ps[i], cs[i], field, below, depth + 1, ignore, out);
    }
    return;
  }
  const po = primary as Record<string, unknown>;
  const co = candidate as Record<string, unknown>;
  for (const key of Object.keys(po)) {
    if (out.isFull()) return;
    const below = ignore.child(state, key);
    if (below === null) continue;
    const field = path + memberSegment(key);
    if (!Object.hasOwn(co, key)) out.add(field, po[key], undefined);
    else walk(po[key], co[key], field, below, depth + 1, ignore, out);
  }
  for (const key of Object.keys(co)) {
    if (out.isFull()) return;
    if (Object.hasOwn(po, key) || ignore.child(state, key) === null) continue;
    out.add(path + memberSegment(key), undefined, co[key]);
  }
}

/** Adds to `out` every field (not ignored) where the candidate's document differs from the primary's. */
export function diffJson(
  primary: unknown,
  candidate: unknown,
  ignore: IgnoreMatcher,
  out: Differences,
): void {
  if (ignore.rootIgnored) return;
  walk(primary, candidate, '$', ignore.root, 0, ignore, out);
}
