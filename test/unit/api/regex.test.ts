import { describe, expect, it } from '@jest/globals';
import { RE2JS } from 're2js';
import {
  CEL_NO_LOOKAROUND_OR_BACKREFERENCE,
  compileRouteRegex,
  MAX_REGEX_PROGRAM_SIZE,
  RouteRegexError,
  routeRegexError,
} from '../../../src/api/regex.js';

/** [source, values it matches, values it does not match] */
const accepted: [string, string[], string[]][] = [
  ['/api/v[0-9]+/orders/[0-9]+', ['/api/v2/orders/17'], ['/api/v2/orders/x', '/x/api/v2/orders/1']],
  ['/a|/b', ['/a', '/b'], ['/ab', '/a/b', 'x/a']],
  ['beta-[0-9]+', ['beta-42'], ['xbeta-42', 'beta-42x', 'beta-']],
  ['(?i)Chrome/[0-9]+', ['chrome/131', 'CHROME/1'], ['Firefox/1']],
  ['/(?P<kind>orders|carts)/\\d+', ['/orders/1', '/carts/22'], ['/users/1']],
  ['/(?<kind>orders|carts)', ['/orders'], ['/order']],
  ['\\pL+', ['Café', 'abc'], ['abc1']],
  ['[[:alpha:]]+', ['abc'], ['ab1']],
  ['\\Qa.b\\E', ['a.b'], ['axb']],
  ['\\x41\\x{42}', ['AB'], ['ab']],
  ['\\12', ['\n'], ['\\12']],
  ['\\(?=', ['(=', '='], ['?=']],
  ['[(?=]+', ['(?=', '='], ['x']],
  ['/(a+)+$', ['/aaa'], ['/aa!', '/']],
  ['.*', ['', 'anything'], []],
];

/** [source, how the refusal begins, whether the CRD's CEL rule refuses it at admission] */
const refused: [string, string, boolean][] = [
  ['a(?=b)', 'uses lookahead ((?= or (?!), which RE2 does not support', true],
  ['/api/(?!internal).*', 'uses lookahead', true],
  ['(?<=a)b', 'uses lookbehind ((?<= or (?<!), which RE2 does not support', true],
  ['.*(?<!-test)', 'uses lookbehind', true],
  ['(a)\\1', 'uses a backreference (\\1 or \\k<name>), which RE2 does not support', true],
  ['(?<w>a)\\k<w>', 'uses a backreference', true],
  ['[\\1]', 'uses a backreference', true],
  [
    '/api/(orders',
    'is not a valid RE2 regular expression: missing closing ): `/api/(orders`',
    false,
  ],
  ['[', 'is not a valid RE2 regular expression: missing closing ]: `[`', false],
  ['a++', 'is not a valid RE2 regular expression: invalid nested repetition operator: `++`', false],
  ['a{1001}', 'is not a valid RE2 regular expression: invalid repeat count: `{1001}`', false],
  ['\\u0041', 'is not a valid RE2 regular expression: invalid escape sequence: `\\u`', false],
  ['[^]', 'is not a valid RE2 regular expression: missing closing ]', false],
  // Not a complete escape for the CEL rule either; its message ("must be an RE2 regular
  // expression without ...") still holds.
  ['a\\', 'is not a valid RE2 regular expression: trailing backslash at end of expression', true],
  ['((a|b|/){0,30}){0,30}z', 'is too complex: its RE2 program size is 3693, at most 500', false],
];

describe('compileRouteRegex', () => {
  it.each(accepted)('accepts %s and matches the whole value', (source, yes, no) => {
    const regex = compileRouteRegex(source);
    for (const value of yes) expect([value, regex.test(value)]).toEqual([value, true]);
    for (const value of no) expect([value, regex.test(value)]).toEqual([value, false]);
  });

  it.each(refused)('refuses %s, saying why', (source, message) => {
    expect(() => compileRouteRegex(source)).toThrow(RouteRegexError);
    expect(routeRegexError(source)).toMatch(
      new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });

  it('bounds the program size, so matching cost stays bounded too', () => {
    // a{n} compiles to a program of n + 2 instructions.
    expect(routeRegexError(`a{${MAX_REGEX_PROGRAM_SIZE - 2}}`)).toBeUndefined();
    expect(routeRegexError(`a{${MAX_REGEX_PROGRAM_SIZE - 1}}`)).toMatch(/^is too complex/);
  });

  it('matches the route of issue 11 in linear time: /(a+)+$ on a near miss of 33 and 10,000 characters', () => {
    const regex = compileRouteRegex('/(a+)+$');
    for (const length of [33, 10_000]) {
      const start = performance.now();
      expect(regex.test(`/${'a'.repeat(length - 2)}!`)).toBe(false);
      // V8's backtracking engine takes ~30 s for 33 characters; RE2 about 0.1 ms.
      expect(performance.now() - start).toBeLessThan(100);
    }
  });
});

describe('the CEL rule (RE2, as the API server runs it)', () => {
  const cel = RE2JS.compile(CEL_NO_LOOKAROUND_OR_BACKREFERENCE);

  /** Valid RE2 the rule refuses: it is kept short enough for the API server's cost budget. */
  const refusedAtAdmission = new Set(['[(?=]+', '\\12']);

  it.each(accepted.filter(([source]) => !refusedAtAdmission.has(source)))(
    'lets %s through, as the gateway accepts it',
    (source) => {
      expect(cel.test(source)).toBe(true);
    },
  );

  it.each([...refusedAtAdmission])(
    'refuses %s, valid RE2 it cannot tell from lookaround or a backreference',
    (source) => {
      expect(routeRegexError(source)).toBeUndefined();
      expect(cel.test(source)).toBe(false);
    },
  );

  it.each(refused)(
    'on %s, which the gateway refuses (%s), refuses at admission: %s',
    (source, _message, atAdmission) => {
      expect(cel.test(source)).toBe(!atAdmission);
    },
  );
});
