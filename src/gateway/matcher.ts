// Route matching: which route of a RouteTable claims a request. Compiled once per table,
// so the request path does no sorting, no regex compilation and no allocation of its own
// beyond splitting the path into segments and the query string parse that only routes
// with query matches need (RE2 allocates a small input wrapper per regex test). Regular
// expressions are RE2, matched in linear time (api/regex.ts): no path, header or query
// value can stall the event loop. The path trie is a tree, so one request visits each of
// its nodes at most once: a hostile path costs no more than a scan of every route.
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

/** Strips trailing slashes so /api/ and /api behave alike; '/' becomes ''. */
export function normalizePrefix(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47) end -= 1;
  return prefix.slice(0, end);
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

/**
 * One node of the path trie: the path up to here, one segment per level (level 1 is the
 * '' before the leading slash). Literal segments are children by text; every {name}
 * segment of a template is the one `param` child, which takes any non-empty segment.
 * Hand-written rather than a router library: precedence between the routes a path
 * reaches (literal before template, longest prefix, then methods and headers) is
 * Figway's own and must stay exactly the brute-force reading of precedenceCompare.
 */
interface PathNode {
  literal: Map<string, PathNode> | undefined;
  param: PathNode | undefined;
  /** Exact routes whose path ends here, in precedence order. */
  exact: CompiledMatch[];
  /** PathPrefix routes whose prefix ends here, in precedence order. */
  prefix: CompiledMatch[];
}

function pathNode(): PathNode {
  return { literal: undefined, param: undefined, exact: [], prefix: [] };
}

/** The node of an Exact path or a normalised PathPrefix ('' is the root), made on the way. */
function nodeFor(root: PathNode, m: CompiledMatch): PathNode {
  if (m.path === '') return root;
  let node = root;
  const segments = m.path.split('/');
  for (let i = 0; i < segments.length; i += 1) {
    const t = i > 0 ? m.template?.[i - 1] : undefined;
    if (t !== undefined && 'param' in t) {
      node = node.param ??= pathNode();
    } else {
      const text = segments[i] as string;
      node.literal ??= new Map();
      let child = node.literal.get(text);
      if (!child) node.literal.set(text, (child = pathNode()));
      node = child;
    }
  }
  return node;
}

/** Whether a route's methods, headers and query accept the request (its path already did). */
function restMatches(m: CompiledMatch, input: MatchInput, query: { params?: URLSearchParams }) {
  if (m.methods && !m.methods.has(input.method)) return false;
  for (const h of m.headers) {
    if (!valueMatches(h, headerValue(input.headers, h.name))) return false;
  }
  if (m.query.length === 0) return true;
  const params = (query.params ??= new URLSearchParams(input.query));
  for (const q of m.query) {
    if (!valueMatches(q, params.get(q.name) ?? undefined)) return false;
  }
  return true;
}

/**
 * Compiles the matcher for one table. Pure: the same table always gives the same answers.
 * Exact and PathPrefix routes live in a trie of path segments, so a request visits the
 * nodes along its path (and the {name} branches beside them), never the other routes;
 * RegularExpression routes, which rank after every Exact and PathPrefix route, are tried
 * in precedence order only when none of those claims the request.
 */
export function compileMatcher(table: Pick<RouteTable, 'routes'>): Matcher {
  const ordered = table.routes.map(compileRoute).sort(precedenceCompare);
  const root = pathNode();
  const regexes: CompiledMatch[] = [];
  for (const m of ordered) {
    if (m.pathType === 2) regexes.push(m);
    else (m.pathType === 0 ? nodeFor(root, m).exact : nodeFor(root, m).prefix).push(m);
  }

  /** The best of `best` and the first route of `routes` that accepts the request. */
  function better(
    best: CompiledMatch | undefined,
    routes: CompiledMatch[],
    input: MatchInput,
    query: { params?: URLSearchParams },
  ): CompiledMatch | undefined {
    for (const m of routes) {
      if (best !== undefined && precedenceCompare(best, m) < 0) return best;
      if (restMatches(m, input, query)) return m;
    }
    return best;
  }

  /** Depth-first over the nodes that `segments` reaches from `node` (`depth` consumed). */
  function walk(
    node: PathNode,
    segments: string[],
    depth: number,
    best: CompiledMatch | undefined,
    input: MatchInput,
    query: { params?: URLSearchParams },
  ): CompiledMatch | undefined {
    let found = node.prefix.length > 0 ? better(best, node.prefix, input, query) : best;
    if (depth === segments.length) {
      return node.exact.length > 0 ? better(found, node.exact, input, query) : found;
    }
    const segment = segments[depth] as string;
    const child = node.literal?.get(segment);
    if (child) found = walk(child, segments, depth + 1, found, input, query);
    if (node.param && segment !== '') {
      found = walk(node.param, segments, depth + 1, found, input, query);
    }
    return found;
  }

  return {
    match(input: MatchInput): number {
      const query: { params?: URLSearchParams } = {};
      const found = walk(root, input.path.split('/'), 0, undefined, input, query);
      if (found) return found.index;
      for (const m of regexes) {
        if ((m.pathRegex as RouteRegex).test(input.path) && restMatches(m, input, query)) {
          return m.index;
        }
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
