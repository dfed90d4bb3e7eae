// Route regular expressions (path, header and query matches of type RegularExpression):
// RE2 syntax, matched in time linear in the value, as Envoy and Gateway API implementations
// do. The schema validates with compileRouteRegex and the gateway matches with it, so what
// `figway validate` and the operator accept is exactly what the gateway runs.
//
// Engine: re2js, RE2 ported to JavaScript, chosen by `npm run bench:regex` (2026-12-03,
// 2-core AMD EPYC, Node 24.21, load average 2.3): ns per anchored test over five typical
// route patterns (paths, header and query values), and one test of the route `/(a+)+$`
// on a near-miss path:
//
//   engine                        typical patterns        /(a+)+$, 33 chars   10,000 chars
//   V8 backtracking (before)      18-88 ns                17-61 s (extrap.)   never ends
//   re2js                         93-688 ns (2.8-7.9x)    0.15 ms             0.14 ms
//   V8 linear (`l` flag)          281-4729 ns (8-54x)     0.11 ms             0.92 ms
//   V8, linear after backtracks   18-91 ns (0.6-1.0x)     1.6 ms              1.0 ms
//   re2-wasm                      1176-2229 ns (25-65x)   0.67 ms             0.14 ms
//
// re2js is the fastest linear engine that needs nothing from the runtime, and speaks the
// RE2 syntax of Envoy and of CEL (the CRD's rules). The V8 engines sit behind
// experimental, process-wide flags and take JavaScript syntax; the fallback one still
// backtracks (50,000 steps by default) on every such request before it switches. re2-wasm
// is the slowest on short values, loads its .wasm from beside its own file (so it fails
// in the bundled image) and never frees a compiled expression, so reloads would leak.
// Compiling costs re2js ~60 µs per expression, once per config.
import { RE2JS, RE2JSSyntaxException } from 're2js';

/** An anchored route regular expression: test() matches the whole value, never a substring. */
export interface RouteRegex {
  test(value: string): boolean;
}

/**
 * Upper bound on a compiled expression's size (RE2's program size, as re2js counts it).
 * Linear time is time proportional to value length times program size: below this bound
 * one test of a 16 KiB value (Node's default header limit) took at most 10 ms in the
 * worst shapes measured (nested counted repeats such as `((a|b|/){0,10}){0,10}z`), while
 * a 22-character pattern with a program of 3,693 took 370 ms. Envoy refuses above 100 by
 * default, which users of `[a-z]{0,200}` run into; typical route patterns are 15-60.
 */
export const MAX_REGEX_PROGRAM_SIZE = 500;

/** What RE2 cannot run in linear time, recognised in the parser's error, with the fix. */
const UNSUPPORTED: { syntax: RegExp; message: string }[] = [
  {
    syntax: /^\(\?[=!]/,
    message:
      'uses lookahead ((?= or (?!), which RE2 does not support; match the text itself, or let a more specific Exact or PathPrefix route claim the exception (they take precedence over RegularExpression)',
  },
  {
    syntax: /^\(\?<[=!]/,
    message:
      'uses lookbehind ((?<= or (?<!), which RE2 does not support; match the text itself, or let a more specific Exact or PathPrefix route claim the exception (they take precedence over RegularExpression)',
  },
  {
    syntax: /^\\([1-9]|k)/,
    message:
      'uses a backreference (\\1 or \\k<name>), which RE2 does not support; spell the repeated text out',
  },
];

function syntaxMessage(error: RE2JSSyntaxException): string {
  const at = error.getPattern() ?? '';
  const unsupported = UNSUPPORTED.find((u) => u.syntax.test(at));
  if (unsupported) return unsupported.message;
  return `is not a valid RE2 regular expression: ${error.getDescription()}${at === '' ? '' : `: \`${at}\``}`;
}

/** Why a route regular expression was refused; the message completes "<field> ...". */
export class RouteRegexError extends Error {
  override readonly name = 'RouteRegexError';
}

/**
 * Compiles an RE2 regular expression, anchored on the whole value (Gateway API semantics).
 * Throws RouteRegexError saying what is not supported (lookaround, backreferences, an
 * expression too large) or how the syntax is wrong.
 */
export function compileRouteRegex(source: string): RouteRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (error) {
    if (error instanceof RE2JSSyntaxException) {
      throw new RouteRegexError(syntaxMessage(error), { cause: error });
    }
    throw error;
  }
  const size = re.programSize();
  if (size > MAX_REGEX_PROGRAM_SIZE) {
    throw new RouteRegexError(
      `is too complex: its RE2 program size is ${size}, at most ${MAX_REGEX_PROGRAM_SIZE} is allowed so that matching stays fast; use fewer or smaller counted repeats ({n,m}) and alternatives`,
    );
  }
  return { test: (value) => re.testExact(value) };
}

/** The reason compileRouteRegex refuses `source`, or undefined when it compiles. */
export function routeRegexError(source: string): string | undefined {
  try {
    compileRouteRegex(source);
    return undefined;
  } catch (error) {
    if (error instanceof RouteRegexError) return error.message;
    throw error;
  }
}

/**
 * The same refusal of lookaround and backreferences for the CRD's CEL rules, whose
 * matches() is RE2 too: the whole expression must split into tokens none of which opens
 * a lookaround or is a backreference (RE2 has no lookahead to say "( not followed by ?=").
 * Tokens: a character other than \ ( ?, or an escape other than \1-\9 and \k, each with
 * any ? after it; "(" alone or with a group flag other than = ! <= <!. The API server
 * prices matches() by pattern length times the value's maximum size, for each of the
 * 1,600 header (and query) values an ApiRoute may have, against 10M per rule: a longer
 * pattern that also knew character classes and octal escapes was refused at 1.5 times
 * the budget; this one comes to about 8M. So the rare valid `[(?=]` and `\12` are refused
 * at admission too (write `[=?(]` and `\n`).
 */
export const CEL_NO_LOOKAROUND_OR_BACKREFERENCE = String.raw`^(([^\\(?]|\\[^1-9k])\?*|\((\?([^=!<]|<[^=!]))?)*$`;
