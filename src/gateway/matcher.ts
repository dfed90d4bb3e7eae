// Route matching: which route of a RouteTable claims a request. Compiled once per table,
// so the request path does no sorting, no regex compilation and no allocation of its own
// beyond the query string parse that only routes with query matches need (RE2 allocates a
// small input wrapper per regex test). Regular expressions are RE2, matched in linear
// time (api/regex.ts): no path, header or query value can stall the event loop.
import { RE2JS } from 're2js';
import {
  compileRouteRegex,
  type CompiledRoute,
  type RouteRegex,
  type RouteTable,
} from '../api/index.js';
import { isPathTemplate, templateSegments, type TemplateSegment } from '../api/path-template.js';

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
  /** An Exact or PathPrefix template with {name} segments, matched segment by segment. */
  template: TemplateSegment[] | undefined;
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

/**
 * Whether a path matches an Exact (whole path) or PathPrefix (leading segments) template:
 * literal segments equal, each {name} segment one non-empty segment.
 */
function templateMatches(template: TemplateSegment[], prefix: boolean, path: string): boolean {
  const segments = path.split('/');
  // segments[0] is the '' before the leading slash.
  if (prefix ? segments.length - 1 < template.length : segments.length - 1 !== template.length) {
    return false;
  }
  for (let i = 0; i < template.length; i += 1) {
    const t = template[i] as TemplateSegment;
    const segment = segments[i + 1] as string;
    if ('param' in t ? segment === '' : segment !== t.literal) return false;
  }
  return true;
}

function compileRoute(route: CompiledRoute, index: number): CompiledMatch {
  const { path, methods, headers, query } = route.match;
  const value = path.type === 'PathPrefix' ? normalizePrefix(path.value) : path.value;
  return {
    index,
    pathType: PATH_TYPE_RANK[path.type],
    path: value,
    pathRegex:
      path.type === 'RegularExpression' ? routeRegex(route, 'path.value', path.value) : undefined,
    template:
      path.type !== 'RegularExpression' && isPathTemplate(value)
        ? templateSegments(value)
        : undefined,
    methods: methods.length > 0 ? new Set(methods) : undefined,
    headers: valueTests(route, 'headers', headers),
    query: valueTests(route, 'query', query),
  };
}

/**
 * Orders routes by Gateway API precedence: Exact path, then the longest PathPrefix, then
 * RegularExpression; among equals, routes with methods, then more header matches, then
 * more query matches, then the order they were written in. The first route in this
 * order that matches a request claims it. Templates ({name} segments), which Gateway API
 * does not have, rank after the literal paths of their type (a literal is the more
 * specific), and templated prefixes with more segments first.
 */
export function precedenceCompare(a: CompiledMatch, b: CompiledMatch): number {
  if (a.pathType !== b.pathType) return a.pathType - b.pathType;
  if ((a.template === undefined) !== (b.template === undefined)) return a.template ? 1 : -1;
  if (a.template && b.template && a.template.length !== b.template.length) {
    return b.template.length - a.template.length;
  }
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
        if (m.template) {
          if (!templateMatches(m.template, m.pathType === 1, input.path)) continue;
        } else if (m.pathType === 0) {
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

/** The values of a route's path parameters in a path it matched, decoded. */
export type PathParameters = Readonly<Record<string, string>>;

function decodeSegment(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // normalisation refused bad escapes already; keep the text as it is
  }
}

/**
 * Compiles, once per config, how to read a route's path parameters ({name} segments, or
 * RE2 named groups) out of a path the route matched. Routes without parameters get a
 * function that returns the same empty object.
 */
export function compilePathParameters(
  path: CompiledRoute['match']['path'],
): (matchedPath: string) => PathParameters {
  const none: PathParameters = Object.freeze({});
  if (path.type === 'RegularExpression') {
    const re = RE2JS.compile(path.value);
    const names = Object.keys(re.namedGroups());
    if (names.length === 0) return () => none;
    return (matchedPath) => {
      const m = re.matcher(matchedPath);
      if (!m.matches()) return none;
      const values: Record<string, string> = {};
      for (const name of names) values[name] = decodeSegment(m.group(name) ?? '');
      return values;
    };
  }
  const value = path.type === 'PathPrefix' ? normalizePrefix(path.value) : path.value;
  if (!isPathTemplate(value)) return () => none;
  const params = templateSegments(value).flatMap((s, i) =>
    'param' in s ? [[s.param, i + 1] as const] : [],
  );
  return (matchedPath) => {
    const segments = matchedPath.split('/');
    const values: Record<string, string> = {};
    for (const [name, at] of params) values[name] = decodeSegment(segments[at] ?? '');
    return values;
  };
}
