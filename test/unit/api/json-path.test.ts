import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  JSON_PATH,
  jsonPathError,
  memberSegment,
  parseJsonPath,
} from '../../../src/api/json-path.js';

describe('parseJsonPath', () => {
  const good: [string, unknown[]][] = [
    ['$', []],
    ['$.timestamp', [{ kind: 'member', name: 'timestamp' }]],
    [
      '$.items[*].updatedAt',
      [
        { kind: 'member', name: 'items' },
        { kind: 'wildcard' },
        { kind: 'member', name: 'updatedAt' },
      ],
    ],
    ["$['content-type']", [{ kind: 'member', name: 'content-type' }]],
    ['$["it\'s"].*', [{ kind: 'member', name: "it's" }, { kind: 'wildcard' }]],
    ['$..id', [{ kind: 'descendant', name: 'id' }]],
    [
      "$..['x-id'].a",
      [
        { kind: 'descendant', name: 'x-id' },
        { kind: 'member', name: 'a' },
      ],
    ],
    ["$['']", [{ kind: 'member', name: '' }]],
  ];
  it.each(good)('reads %s', (text, steps) => {
    expect(parseJsonPath(text)).toEqual({ ok: true, steps });
  });

  const bad: [string, string][] = [
    ['timestamp', 'character 1 of "timestamp": must start with \'$\''],
    ['$.items[0]', 'character 8 of "$.items[0]": array indices are grouped as [*]'],
    ['$.content-type', 'character 10 of "$.content-type": expected \'.name\''],
    ['$.', 'character 3 of "$.": \'.\' must be followed by a name'],
    ['$...a', 'character 4 of "$...a": \'..\' must be followed by a member name'],
    ["$['a\\'b']", 'a bracket must hold'],
    ['$[name]', 'a bracket must hold'],
    ['$.1a', "'.' must be followed by a name"],
  ];
  it.each(bad)('refuses %s, saying where and why', (text, message) => {
    expect(jsonPathError(text)).toContain(message);
  });

  it('agrees with the pattern the API server checks, for any text', () => {
    const pieces = fc.constantFrom(
      '$',
      '.',
      '..',
      '[',
      ']',
      '*',
      "'",
      '"',
      'a',
      '_',
      '1',
      '-',
      '\\',
      ' ',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(pieces, { maxLength: 12 }).map((p) => p.join('')),
        ),
        (text) => {
          expect(parseJsonPath(text).ok).toBe(JSON_PATH.test(text));
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('memberSegment', () => {
  it('writes plain names with a dot and the rest in brackets', () => {
    expect(memberSegment('updatedAt')).toBe('.updatedAt');
    expect(memberSegment('content-type')).toBe("['content-type']");
    expect(memberSegment("it's")).toBe('["it\'s"]');
    expect(memberSegment('1st')).toBe("['1st']");
  });

  it('writes every name without both quotes or a backslash as a path that reads back as that name', () => {
    fc.assert(
      fc.property(fc.string(), (name) => {
        fc.pre(!name.includes('\\') && !(name.includes("'") && name.includes('"')));
        const parsed = parseJsonPath(`$${memberSegment(name)}`);
        expect(parsed).toEqual({ ok: true, steps: [{ kind: 'member', name }] });
      }),
    );
  });
});
