// spec.routes[].compose: one GET answered by several upstream calls ("parts") whose JSON
// answers the gateway puts side by side under the part names. A part names its upstream
// the way shadow.backend does: a new-service backend of this ApiRoute (any of its routes)
// by its Service name or its url's host, or the monolith. So the operator compiles every
// part into the route table from the ApiRoute alone (no Service lookup, no extra RBAC), and
// part upstreams are resolved, pooled and counted like every other backend.
//
// This file knows neither schema.ts nor route-table.ts at run time (they import it): what
// it needs of them comes in as arguments.
import { z } from 'zod';
import { duration, DURATION, durationToMs } from './fields.js';
import { pathParameterNames, undeclaredReferenceError } from './path-template.js';

export const MAX_COMPOSE_PARTS = 8;
/** Largest answer a part may give; a larger one fails the part, read no further. */
export const MAX_PART_BODY_BYTES = 1024 * 1024;
/** Methods a composed route answers: composition only reads. */
export const COMPOSE_METHODS = ['GET', 'HEAD'] as const;
/** The key of the answer that lists the parts that failed (a part name cannot start with _). */
export const FAILED_KEY = '_failed';

/** A part name: a JSON key a client reads as `answer.profile`, so no leading `_` or digit. */
const PART_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
/** A part path: origin-form path and query, printable ASCII but " and #, braces only around {name}. */
const PART_PATH = /^\/(?:[!$-z|~]|\{[A-Za-z_][A-Za-z0-9_]*\})*$/;

export const ComposePartSchema = z
  .strictObject({
    name: z
      .string()
      .regex(PART_NAME, {
        error: (i) =>
          `must be a letter then up to 62 letters, digits, '_' or '-' (it is the part's key in the answer), got ${JSON.stringify(i.input)}`,
      })
      .meta({ description: "The part's key in the composed answer, e.g. profile." }),
    backend: z.string().min(1).max(253).optional().meta({
      description:
        "A new-service backend of this ApiRoute (of any of its routes), by its name: its Service name, or the host (host:port) of its url. The part is sent to that backend's address. Or set monolith: true.",
    }),
    monolith: z
      .boolean()
      .optional()
      .meta({ description: 'true: the part is sent to the monolith of spec.monolith.' }),
    path: z
      .string()
      .max(1024)
      .regex(PART_PATH, {
        error: (i) =>
          `must be a path (and query) starting with '/', in printable ASCII without '#', '{' or '}' except around a parameter {name}, e.g. /orders?customer={id}, got ${JSON.stringify(i.input)}`,
      })
      .meta({
        description:
          "Path and query sent to the backend, with {name} filled from the route's path parameters, each value percent-encoded so it stays one segment or one query value, e.g. /orders?customer={id}.",
      }),
    optional: z.boolean().default(false).meta({
      description:
        'true: when the part fails the answer still comes, with the part null and listed in _failed. false (default): a failed part fails the request with 502.',
    }),
    timeout: duration(
      "How long the part may take, retries included, e.g. 800ms; at most the route timeout, which is the default. The route's retries apply to each part.",
    ).optional(),
  })
  .superRefine((part, ctx) => {
    if ((part.backend !== undefined) === (part.monolith === true)) {
      ctx.addIssue({
        code: 'custom',
        message: 'set exactly one of backend (a new-service backend name) or monolith: true',
      });
    }
  })
  .meta({
    description: 'One upstream call of a composed answer.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.backend) != (has(self.monolith) && self.monolith)',
        message: 'set exactly one of backend or monolith: true',
      },
    ],
  });

export const ComposeSchema = z
  .strictObject({
    parts: z
      .array(ComposePartSchema)
      .min(1, { error: 'must list at least one part' })
      .max(MAX_COMPOSE_PARTS, {
        error: `must list at most ${MAX_COMPOSE_PARTS} parts: each is an upstream call per request`,
      })
      .superRefine((parts, ctx) => {
        const seen = new Map<string, number>();
        parts.forEach((part, index) => {
          const first = seen.get(part.name);
          if (first === undefined) seen.set(part.name, index);
          else
            ctx.addIssue({
              code: 'custom',
              path: [index, 'name'],
              message: `duplicate part name ${JSON.stringify(part.name)} (also parts[${first}].name): each is a key of the answer`,
            });
        });
      })
      .meta({
        description: `The upstream calls, sent in parallel (at most ${MAX_COMPOSE_PARTS}). Names are unique.`,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
  })
  .meta({
    description: `Composition: the gateway answers GET and HEAD itself with one JSON object holding each part's JSON answer under its name, e.g. {"profile": {...}, "orders": [...]}. Parts run in parallel with the route's request headers, retries and timeout; an answer must be 2xx JSON of at most 1Mi. A required part that fails gives 502 naming it; an optional one is null and listed in "${FAILED_KEY}": [{"part", "reason"}]. Replaces backends (leave them out); other methods get 405.`,
  });

export type Compose = z.output<typeof ComposeSchema>;
export type ComposePart = Compose['parts'][number];

/** What the route checks read of a route (schema.ts Route, structurally). */
interface ComposingRoute {
  match: { path: { type: string; value: string }; methods?: readonly string[] | undefined };
  backends: readonly unknown[];
  timeout: string;
  rewrite?: unknown;
  compose?: Compose | undefined;
}

/**
 * The route-level checks of a composed route, and of a route's backends list, which only a
 * composed route may leave empty: added to `ctx` at the route.
 */
export function composeRouteIssues(route: ComposingRoute, ctx: z.RefinementCtx): void {
  const compose = route.compose;
  if (compose === undefined) {
    if (route.backends.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['backends'],
        message: 'must list at least one backend (or compose the answer from parts)',
      });
    return;
  }
  if (route.backends.length > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['backends'],
      message:
        "must be left out with compose: the parts name their backends (the route's answer is composed, not split)",
    });
  if (route.rewrite !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['rewrite'],
      message: 'does not apply with compose: each part states its own path',
    });
  (route.match.methods ?? []).forEach((method, index) => {
    if (!(COMPOSE_METHODS as readonly string[]).includes(method))
      ctx.addIssue({
        code: 'custom',
        path: ['match', 'methods', index],
        message: `must be GET or HEAD with compose (composition only reads), got ${method}`,
      });
  });
  const declared = pathParameterNames(route.match.path);
  // Refinements run beside the field checks: a malformed duration is reported there.
  const routeMs = DURATION.test(route.timeout) ? durationToMs(route.timeout) : Infinity;
  compose.parts.forEach((part, index) => {
    const undeclared = undeclaredReferenceError(part.path, declared);
    if (undeclared !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['compose', 'parts', index, 'path'],
        message: undeclared,
      });
    if (
      part.timeout !== undefined &&
      DURATION.test(part.timeout) &&
      durationToMs(part.timeout) > routeMs
    )
      ctx.addIssue({
        code: 'custom',
        path: ['compose', 'parts', index, 'timeout'],
        message: `must be at most the route timeout (${route.timeout}), the deadline of the whole answer, got ${part.timeout}`,
      });
  });
}

/**
 * The backends parts can name, by name: every new-service backend of the ApiRoute's routes
 * (`nameOf` gives its name, undefined for the monolith), with its address (`addressOf`).
 */
function namedBackends<B>(
  routes: readonly { backends: readonly B[] }[],
  nameOf: (backend: B) => string | undefined,
  addressOf: (backend: B) => string,
): Map<string, Map<string, B>> {
  const byName = new Map<string, Map<string, B>>();
  for (const route of routes) {
    for (const backend of route.backends) {
      const name = nameOf(backend);
      if (name === undefined) continue;
      const addresses = byName.get(name) ?? new Map<string, B>();
      if (!addresses.has(addressOf(backend))) addresses.set(addressOf(backend), backend);
      byName.set(name, addresses);
    }
  }
  return byName;
}

/** The ApiRoute-level check: each part's backend names exactly one backend of the ApiRoute. */
export function composeBackendIssues<B>(
  routes: readonly { backends: readonly B[]; compose?: Compose | undefined }[],
  ctx: z.RefinementCtx,
  nameOf: (backend: B) => string | undefined,
  addressOf: (backend: B) => string,
): void {
  if (routes.every((r) => r.compose === undefined)) return;
  const byName = namedBackends(routes, nameOf, addressOf);
  const known = [...byName.keys()].map((n) => JSON.stringify(n)).join(', ');
  routes.forEach((route, r) => {
    route.compose?.parts.forEach((part, p) => {
      if (part.backend === undefined) return;
      const addresses = byName.get(part.backend);
      const path = ['routes', r, 'compose', 'parts', p, 'backend'];
      if (addresses === undefined)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `must name a new-service backend of this ApiRoute's routes (${known || 'it has none: add the service as a backend of a route, weight 0 is fine'}) or be replaced by monolith: true, got ${JSON.stringify(part.backend)}`,
        });
      else if (addresses.size > 1)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `names ${addresses.size} different backends (${[...addresses.keys()].join(', ')}): give them distinct names, so a part knows which it calls`,
        });
    });
  });
}

/** A part as the gateway runs it. */
export const CompiledComposePartSchema = z.object({
  name: z.string(),
  /** Name of the route's backend the part is sent to ("monolith" for the monolith). */
  backend: z.string(),
  monolith: z.boolean(),
  /** Path and query with {name} references, filled per request (path-template.ts). */
  path: z.string(),
  optional: z.boolean(),
  timeoutMs: z.number(),
});

export const CompiledComposeSchema = z.object({ parts: z.array(CompiledComposePartSchema) });
export type CompiledCompose = z.output<typeof CompiledComposeSchema>;

/**
 * The backends a composed route's table entry lists: the distinct backends its parts call,
 * weight 0 (the gateway answers itself, nothing is split), so the gateway resolves, pools
 * and counts them like any route's backends. `find` looks a part's backend up by name (the
 * schema guarantees it exists); `monolith` is the spec's monolith as a backend.
 */
export function composeBackends<B>(
  compose: Compose,
  find: (name: string) => B,
  monolith: B,
  nameOf: (backend: B) => string,
): B[] {
  const out = new Map<string, B>();
  for (const part of compose.parts) {
    const backend = part.backend === undefined ? monolith : find(part.backend);
    out.set(nameOf(backend), backend);
  }
  return [...out.values()];
}

/** Compiles compose for the route table; `monolithName` is the monolith's backend name. */
export function compileCompose(
  compose: Compose,
  routeTimeoutMs: number,
  monolithName: string,
): CompiledCompose {
  return {
    parts: compose.parts.map((part) => ({
      name: part.name,
      backend: part.backend ?? monolithName,
      monolith: part.backend === undefined,
      path: part.path,
      optional: part.optional,
      timeoutMs: part.timeout !== undefined ? durationToMs(part.timeout) : routeTimeoutMs,
    })),
  };
}
