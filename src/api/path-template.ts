// Path parameters: the one template syntax of the ApiRoute, defined here and used by the
// schema (validation), the gateway matcher (matching) and the stages that fill parameters
// into upstream requests (composition parts, gRPC fields).
//
//   Exact / PathPrefix   a whole segment `{name}` matches one non-empty segment:
//                        `/api/customers/{id}/overview` matches `/api/customers/42/overview`
//   RegularExpression    RE2 named groups: `/api/orders/(?P<id>[0-9]+)`
//
// Names are identifiers (letter or underscore, then letters, digits, underscores), as in
// OpenAPI path templates and Spring/Express routes, so `{id}` reads the same in match and
// in the places that use it. A brace anywhere but around a whole segment is refused: the
// gateway never sees a raw `{` in a normalised path it should match literally
// (RFC 3986 does not allow it there).
import { RE2JS } from 're2js';

export const MAX_PATH_PARAMETERS = 16;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PARAM_SEGMENT = /^\{([^{}]*)\}$/;
/** `{name}` references in a text that fills parameters in (part paths, gRPC fields). */
const REFERENCE = /\{([^{}]*)\}/g;

/** One segment of an Exact or PathPrefix template: literal text, or a parameter. */
export type TemplateSegment = { literal: string } | { param: string };

/** The segments of `/a/{id}/b` after the leading slash: a, {id}, b. */
export function templateSegments(value: string): TemplateSegment[] {
  return value
    .split('/')
    .slice(1)
    .map((segment) => {
      const param = PARAM_SEGMENT.exec(segment);
      return param ? { param: param[1] as string } : { literal: segment };
    });
}

/** Whether an Exact or PathPrefix value has parameters (and so is matched segment by segment). */
export function isPathTemplate(value: string): boolean {
  return value.includes('{');
}

/**
 * Why an Exact or PathPrefix value is not a valid template, or undefined. The message
 * completes "<field> ...".
 */
export function pathTemplateError(value: string): string | undefined {
  if (!isPathTemplate(value) && !value.includes('}')) return undefined;
  const seen = new Set<string>();
  for (const segment of value.split('/').slice(1)) {
    if (!segment.includes('{') && !segment.includes('}')) continue;
    const param = PARAM_SEGMENT.exec(segment);
    if (!param) {
      return `has ${JSON.stringify(segment)}: a path parameter is a whole segment {name}, e.g. /api/customers/{id}/overview`;
    }
    const name = param[1] as string;
    if (!NAME.test(name)) {
      return `has parameter {${name}}: a name is a letter or _ then letters, digits or _ (at most 63)`;
    }
    if (seen.has(name)) return `names parameter {${name}} twice: names must be unique`;
    seen.add(name);
  }
  if (seen.size > MAX_PATH_PARAMETERS) {
    return `has ${seen.size} parameters, at most ${MAX_PATH_PARAMETERS} are allowed`;
  }
  return undefined;
}

/** The parameter names a path match declares, in order; [] for none. */
export function pathParameterNames(path: { type: string; value: string }): string[] {
  if (path.type === 'RegularExpression') {
    try {
      const groups = RE2JS.compile(path.value).namedGroups();
      return Object.entries(groups)
        .sort(([, a], [, b]) => a - b)
        .map(([name]) => name);
    } catch {
      return []; // the regex check reports it
    }
  }
  return templateSegments(path.value).flatMap((s) => ('param' in s ? [s.param] : []));
}

/** The `{name}` references of a text that fills parameters in (e.g. a part's path). */
export function parameterReferences(text: string): string[] {
  return [...text.matchAll(REFERENCE)].map((m) => m[1] as string);
}

/**
 * Why `text` refers to a parameter that `declared` does not have, or undefined. The message
 * completes "<field> ...", and lists what the match declares.
 */
export function undeclaredReferenceError(
  text: string,
  declared: readonly string[],
): string | undefined {
  const unknown = parameterReferences(text).filter((name) => !declared.includes(name));
  if (unknown.length === 0) return undefined;
  const have =
    declared.length > 0
      ? `the route's match declares ${declared.map((d) => `{${d}}`).join(', ')}`
      : "the route's match declares none: add {name} segments to an Exact or PathPrefix path, or (?P<name>...) groups to a RegularExpression";
  return `refers to ${unknown.map((u) => `{${u}}`).join(', ')}, which ${have}`;
}

/**
 * A parameter value made safe as one path segment or one query value: everything but
 * unreserved characters percent-encoded (so `/`, `?`, `&`, `=` cannot add segments or
 * parameters), and a value of `.` or `..` encoded too, so it is never a dot segment.
 */
export function encodeParameter(value: string): string {
  return value === '.' || value === '..' ? value.replaceAll('.', '%2E') : encodeURIComponent(value);
}

/**
 * Fills `{name}` references with values, each encoded with `encode` (by default as a
 * path segment or query value). References without a value stay empty.
 */
export function fillParameters(
  text: string,
  values: Readonly<Record<string, string>>,
  encode: (value: string) => string = encodeParameter,
): string {
  return text.replace(REFERENCE, (_, name: string) => encode(values[name] ?? ''));
}
