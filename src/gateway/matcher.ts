// Route matching: which route of a RouteTable claims a request. Compiled once per table,
// so the request path does no sorting, no regex compilation and no allocation of its own
// beyond the query string parse that only routes with query matches need (RE2 allocates a
// small input wrapper per regex test). Regular expressions are RE2, matched in linear
// time (api/regex.ts): no path, header or query value can stall the event loop.
import {
  compileRouteRegex,
  type CompiledRoute,
  type RouteRegex,
  type RouteTable,
} from '../api/index.js';

/** What matching looks at; Node's IncomingMessage headers fit as they are. */
export interface MatchInput {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string without '?', or '' when there is none. */
  query: string;
  headers: Record<string, string | string[] | undefined>;
}

interface ValueTest {
  name: string;
  exact?: string;
  regex?: RouteRegex;
}

interface CompiledMatch {
  /** Index of the route in the table's routes. */
  index: number;
  pathType: 0 | 1 | 2;
  /** Exact path, or the PathPrefix without a trailing slash ('' for '/'). */
  path: string;
  pathRegex: RouteRegex | undefined;
  methods: ReadonlySet<string> | undefined;
  headers: ValueTest[];
  query: ValueTest[];
}

const PATH_TYPE_RANK = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;

/** Compiles one regex of a route; a table the schema did not check gets an error with context. */
function routeRegex(route: CompiledRoute, field: string, source: string): RouteRegex {
  try {
    return compileRouteRegex(source);
  } catch (error) {
    throw new Error(`route ${route.name}: match.${field} ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function valueTests(
  route: CompiledRoute,
  kind: 'headers' | 'query',
  matches: readonly { name: string; type: string; value: string }[],
): ValueTest[] {
  return matches.map((m, i) =>
    m.type === 'RegularExpression'
      ? { name: m.name, regex: routeRegex(route, `${kind}[${i}].value`, m.value) }
      : { name: m.name, exact: m.value },
  );
}

/** PathPrefix semantics: whole segments, and a trailing slash on the prefix is ignored. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* '/' */
}

/** Strips trailing slashes so /api/ and /api behave alike; '/' becomes ''. */
export function normalizePrefix(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47) end -= 1;
  return prefix.slice(0, end);
}

function compileRoute(route: CompiledRoute, index: number): CompiledMatch {
  const { path, methods, headers, query } = route.match;
  return {
    index,
    pathType: PATH_TYPE_RANK[path.type],
    path: path.type === 'PathPrefix' ? normalizePrefix(path.value) : path.value,
    pathRegex:
      path.type === 'RegularExpression' ? routeRegex(route, 'path.value', path.value) : undefined,
    methods: methods.length > 0 ? new Set(methods) : undefined,
    headers: valueTests(route, 'headers', headers),
    query: valueTests(route, 'query', query),
  };
}

/**
 * Orders routes by Gateway API precedence: Exact path, then the longest PathPrefix, then
 * RegularExpression; among equals, routes with methods, then more header matches, then
 * more query matches, then the order they were written in. The first route in this
 * order that matches a request claims it.
 */
export function precedenceCompare(a: CompiledMatch, b: CompiledMatch): number {
  if (a.pathType !== b.pathType) return a.pathType - b.pathType;
  if (a.pathType === 1 && a.path.length !== b.path.length) return b.path.length - a.path.length;
  const am = a.methods ? 1 : 0;
  const bm = b.methods ? 1 : 0;
  if (am !== bm) return bm - am;
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  if (a.query.length !== b.query.length) return b.query.length - a.query.length;
  return a.index - b.index;
}

function valueMatches(test: ValueTest, value: string | undefined): boolean {
  if (value === undefined) return false;
  return test.regex ? test.regex.test(value) : value === test.exact;
}

function headerValue(headers: MatchInput['headers'], name: string): string | undefined {
  const value = headers[name];
  // Node joins repeated headers with ', ' except set-cookie; match the joined form.
  return Array.isArray(value) ? value.join(', ') : value;
}

export interface Matcher {
  /** Index into table.routes of the route that claims the request, or -1 (the monolith). */
  match(input: MatchInput): number;
}

/** Compiles the matcher for one table. Pure: the same table always gives the same answers. */
export function compileMatcher(table: Pick<RouteTable, 'routes'>): Matcher {
  const ordered = table.routes.map(compileRoute).sort(precedenceCompare);
  const needsQuery = ordered.some((m) => m.query.length > 0);
  return {
    match(input: MatchInput): number {
      let params: URLSearchParams | undefined;
      for (const m of ordered) {
        if (m.pathType === 0) {
          if (input.path !== m.path) continue;
        } else if (m.pathType === 1) {
          if (!prefixMatches(m.path, input.path)) continue;
        } else if (!(m.pathRegex as RouteRegex).test(input.path)) continue;
        if (m.methods && !m.methods.has(input.method)) continue;
        let ok = true;
        for (const h of m.headers) {
          if (!valueMatches(h, headerValue(input.headers, h.name))) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        if (m.query.length > 0) {
          if (needsQuery && params === undefined) params = new URLSearchParams(input.query);
          for (const q of m.query) {
            if (!valueMatches(q, params?.get(q.name) ?? undefined)) {
              ok = false;
              break;
            }
          }
          if (!ok) continue;
        }
        return m.index;
      }
      return -1;
    },
  };
}
