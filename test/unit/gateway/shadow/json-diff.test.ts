import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseJsonPath } from '../../../../src/api/json-path.js';
import {
  Differences,
  MAX_FIELDS_PER_COMPARISON,
  OTHER_FIELD,
} from '../../../../src/gateway/shadow/differences.js';
import { compileIgnore } from '../../../../src/gateway/shadow/ignore.js';
import { diffJson, MAX_DIFF_DEPTH, sameJson } from '../../../../src/gateway/shadow/json-diff.js';

function fields(primary: unknown, candidate: unknown, ignore: string[] = []): string[] {
  const out = new Differences(false);
  diffJson(primary, candidate, compileIgnore(ignore), out);
  return [...out.fields.keys()].sort();
}

describe('diffJson', () => {
  const cases: [string, unknown, unknown, string[], string[]][] = [
    ['equal documents', { a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, [], []],
    ['a changed member', { a: 1, b: 2 }, { a: 1, b: 3 }, [], ['$.b']],
    ['a member only one side has', { a: 1 }, { a: 1, b: 2 }, [], ['$.b']],
    ['a member the candidate lacks', { a: 1, b: 2 }, { a: 1 }, [], ['$.b']],
    ['a change of type is one field', { a: { x: 1, y: 2 } }, { a: [1, 2] }, [], ['$.a']],
    ['number vs string', { n: 1 }, { n: '1' }, [], ['$.n']],
    ['null vs object', { n: null }, { n: {} }, [], ['$.n']],
    [
      'array indices grouped as [*]',
      { items: [{ p: 1 }, { p: 2 }, { p: 3 }] },
      { items: [{ p: 1 }, { p: 9 }, { p: 8 }] },
      [],
      ['$.items[*].p'],
    ],
    ['a longer array', { a: [1, 2] }, { a: [1, 2, 3] }, [], ['$.a[*]']],
    [
      'names that need brackets',
      { 'x-y': 1, '1st': 2 },
      { 'x-y': 2, '1st': 3 },
      [],
      ["$['1st']", "$['x-y']"],
    ],
    ['ignored member', { t: 1, a: 1 }, { t: 2, a: 2 }, ['$.t'], ['$.a']],
    [
      'ignored member inside every element',
      { items: [{ u: 1, p: 1 }] },
      { items: [{ u: 2, p: 2 }] },
      ['$.items[*].u'],
      ['$.items[*].p'],
    ],
    [
      'ignored at any depth',
      { a: { id: 1, b: [{ id: 2 }] }, id: 3 },
      { a: { id: 9, b: [{ id: 8 }] }, id: 7 },
      ['$..id'],
      [],
    ],
    [
      'wildcard member',
      { a: { x: 1, y: 2 }, b: 1 },
      { a: { x: 2, y: 3 }, b: 2 },
      ['$.a.*'],
      ['$.b'],
    ],
    ['ignoring an absent member', { a: 1 }, { a: 1, extra: true }, ["$['extra']"], []],
    ['the whole body ignored', { a: 1 }, { a: 2 }, ['$'], []],
    ['different roots', [1], { a: 1 }, [], ['$']],
    ['scalars at the root', 'x', 'y', [], ['$']],
    ['an inherited name is not a member', { a: 1 }, { toString: 1, a: 1 }, [], ['$.toString']],
  ];
  it.each(cases)('%s', (_name, primary, candidate, ignore, expected) => {
    expect(fields(primary, candidate, ignore)).toEqual(expected);
  });

  it('keeps the first differing values of each field when asked', () => {
    const out = new Differences(true);
    diffJson(
      { items: [{ p: 1 }, { p: 2 }] },
      { items: [{ p: 5 }, { p: 6 }] },
      compileIgnore([]),
      out,
    );
    expect([...out.fields]).toEqual([['$.items[*].p', { primary: 1, candidate: 5 }]]);
  });

  it('folds fields past the cap into one, and stops walking', () => {
    const wide = (v: number) =>
      Object.fromEntries(Array.from({ length: 10_000 }, (_x, i) => [`f${i}`, v]));
    const out = new Differences(false);
    diffJson(wide(1), wide(2), compileIgnore([]), out);
    expect(out.fields.size).toBe(MAX_FIELDS_PER_COMPARISON);
    expect(out.overflowed).toBe(true);
    expect(out.fields.has(OTHER_FIELD)).toBe(false);
  });

  it('compares below MAX_DIFF_DEPTH as one field, and survives documents nested far deeper', () => {
    // JSON.parse builds such documents without recursion; a recursive walk would overflow.
    const nested = (leaf: number) =>
      JSON.parse(`${'['.repeat(200_000)}${leaf}${']'.repeat(200_000)}`);
    expect(fields(nested(1), nested(2))).toEqual([`$${'[*]'.repeat(MAX_DIFF_DEPTH)}`]);
    expect(fields(nested(1), nested(1))).toEqual([]);
  });
});

const json = fc.jsonValue({ maxDepth: 4 });

describe('diffJson properties', () => {
  it('finds nothing between a document and its copy', () => {
    fc.assert(
      fc.property(json, (doc) => {
        expect(fields(doc, structuredClone(doc))).toEqual([]);
      }),
    );
  });

  it('names the same fields whichever side is the candidate', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(fields(a, b)).toEqual(fields(b, a));
      }),
    );
  });

  it('finds a difference exactly when the documents differ', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(fields(a, b).length > 0).toBe(!sameJson(a, b));
      }),
    );
  });

  it('reports field names that are ignore paths, and ignoring them all leaves nothing', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const found = fields(a, b).filter((f) => parseJsonPath(f).ok);
        // Names with both quote characters or a backslash are outside the path subset.
        fc.pre(found.length === fields(a, b).length);
        expect(fields(a, b, found)).toEqual([]);
      }),
    );
  });
});
