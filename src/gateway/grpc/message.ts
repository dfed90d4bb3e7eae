// JSON ↔ protobuf for translated routes, by the proto3 JSON mapping
// (https://protobuf.dev/programming-guides/json/): the request message is built from the
// JSON body, then query parameters, then path parameters (each later source sets its fields
// over the earlier ones, as grpc-gateway does); the reply is written as proto3 JSON with
// every field present (grpc-gateway's EmitUnpopulated). protobufjs's fromObject coerces
// whatever it gets (a string into an int32 becomes 0), so values are checked here first,
// and a field the message does not have is an error that names it, never silently dropped.
import protobuf from 'protobufjs';

/** What a client sent wrong, with the field path (e.g. `inner.amount`), for a 400. */
export class RequestFieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(field === '' ? message : `${field}: ${message}`);
    this.name = 'RequestFieldError';
  }
}

/** The request parts that become the message. */
export interface RequestParts {
  /** The parsed JSON body, or undefined for none. */
  readonly body: unknown;
  /** The query string without '?'. */
  readonly query: string;
  /** Path parameter values, decoded. */
  readonly params: Readonly<Record<string, string>>;
}

/** toObject options of the proto3 JSON mapping: int64 as strings, enums by name, bytes base64. */
const JSON_MAPPING: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  arrays: true,
  objects: true,
  json: true,
};

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const INTEGER = /^-?[0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;
/** Deepest message nesting a request may have (protobuf's own parsers stop at 100). */
export const MAX_DEPTH = 32;

/** Field lookup by its JSON name or its .proto name, built once per type. */
const fieldIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
  let index = fieldIndexes.get(type);
  if (index === undefined) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      index.set(field.protoName, field);
    }
    fieldIndexes.set(type, index);
  }
  return index.get(key) ?? index.get(protobuf.util.jsonName(key));
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function integer(
  value: unknown,
  path: string,
  min: bigint,
  max: bigint,
  what: string,
): string | number {
  const text = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : '') : value;
  if (typeof text !== 'string' || !INTEGER.test(text)) {
    throw new RequestFieldError(path, `must be ${what} (a whole number), got ${describe(value)}`);
  }
  const big = BigInt(text);
  if (big < min || big > max) {
    throw new RequestFieldError(path, `must be ${what} (${min} to ${max}), got ${text}`);
  }
  // 64-bit values stay strings (protobufjs reads them into a Long without losing digits).
  return max > 2n ** 32n ? text : Number(text);
}

/**
 * One scalar or enum value of protobuf type `type` (`resolved` for an enum), from JSON, or
 * from a query/path string (`fromText`).
 */
function scalar(
  type: string,
  resolved: protobuf.ReflectionObject | null,
  value: unknown,
  path: string,
  fromText: boolean,
): unknown {
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && resolved.values[value] !== undefined) return value;
    if (typeof value === 'number' || (typeof value === 'string' && INTEGER.test(value))) {
      return integer(value, path, -(2n ** 31n), 2n ** 31n - 1n, `an ${resolved.name} value`);
    }
    throw new RequestFieldError(
      path,
      `must be one of ${Object.keys(resolved.values).join(', ')}, got ${describe(value)}`,
    );
  }
  if (type === 'string') {
    if (typeof value === 'string') return value;
    throw new RequestFieldError(path, `must be a string, got ${describe(value)}`);
  }
  if (type === 'bool') {
    if (typeof value === 'boolean') return value;
    if (fromText && (value === 'true' || value === 'false')) return value === 'true';
    throw new RequestFieldError(path, `must be true or false, got ${describe(value)}`);
  }
  if (type === 'bytes') {
    if (typeof value === 'string' && BASE64.test(value)) {
      return value.replaceAll('-', '+').replaceAll('_', '/');
    }
    throw new RequestFieldError(path, `must be base64 bytes, got ${describe(value)}`);
  }
  if (type === 'double' || type === 'float') {
    if (typeof value === 'number') return value;
    if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
      return Number(value);
    }
    throw new RequestFieldError(path, `must be a number, got ${describe(value)}`);
  }
  if (INT32.has(type)) return integer(value, path, -(2n ** 31n), 2n ** 31n - 1n, `an ${type}`);
  if (UINT32.has(type)) return integer(value, path, 0n, 2n ** 32n - 1n, `a ${type}`);
  if (INT64.has(type)) return integer(value, path, INT64_MIN, INT64_MAX, `an ${type}`);
  if (UINT64.has(type)) return integer(value, path, 0n, UINT64_MAX, `a ${type}`);
  throw new RequestFieldError(path, `has type ${type}, which this gateway cannot set`);
}

/** A field's value from JSON: null is the default (left out), repeated and map fields nest. */
function fieldValue(field: protobuf.Field, value: unknown, path: string, depth: number): unknown {
  if (field instanceof protobuf.MapField) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new RequestFieldError(path, `must be an object (a map), got ${describe(value)}`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (field.keyType !== 'string') scalar(field.keyType, null, key, join(path, key), true);
      out[key] = single(field, v, join(path, key), depth);
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      throw new RequestFieldError(path, `must be an array, got ${describe(value)}`);
    }
    return value.map((v, i) => single(field, v, `${path}[${i}]`, depth));
  }
  return single(field, value, path, depth);
}

function single(field: protobuf.Field, value: unknown, path: string, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageObject(resolved, value, path, depth + 1);
  return scalar(field.type, resolved, value, path, false);
}

/** A checked plain object for `type.fromObject`, from a JSON value. */
function messageObject(
  type: protobuf.Type,
  value: unknown,
  path: string,
  depth: number,
): Record<string, unknown> {
  if (depth > MAX_DEPTH) {
    throw new RequestFieldError(path, `nests messages deeper than ${MAX_DEPTH} levels`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestFieldError(
      path,
      `must be a JSON object (message ${type.name}), got ${describe(value)}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = fieldOf(type, key);
    const where = join(path, key);
    if (field === undefined) {
      throw new RequestFieldError(where, `is not a field of ${type.fullName.slice(1)}`);
    }
    if (v === null) continue;
    out[field.name] = fieldValue(field, v, where, depth);
  }
  return out;
}

/**
 * Sets a field named by a dotted path (`inner.amount`) from text values: the query
 * parameters and path parameters. A repeated field takes every value; any other field
 * exactly one.
 */
function setFromText(
  type: protobuf.Type,
  target: Record<string, unknown>,
  dotted: string,
  values: readonly string[],
  source: string,
): void {
  const parts = dotted.split('.');
  let current = type;
  let object = target;
  let path = '';
  for (let i = 0; i < parts.length; i += 1) {
    const key = parts[i] as string;
    path = join(path, key);
    const field = fieldOf(current, key);
    if (field === undefined) {
      throw new RequestFieldError(
        path,
        `(${source}) is not a field of ${current.fullName.slice(1)}`,
      );
    }
    const resolved = field.resolvedType;
    if (i < parts.length - 1) {
      if (!(resolved instanceof protobuf.Type) || field.repeated || field.map) {
        throw new RequestFieldError(path, `(${source}) is not a message field: it has no fields`);
      }
      const next = object[field.name];
      object = (
        typeof next === 'object' && next !== null ? next : (object[field.name] = {})
      ) as Record<string, unknown>;
      current = resolved;
      continue;
    }
    if (field.map || resolved instanceof protobuf.Type) {
      throw new RequestFieldError(
        path,
        `(${source}) is a ${field.map ? 'map' : 'message'} field: set it in the JSON body`,
      );
    }
    if (field.repeated) {
      object[field.name] = values.map((v, index) =>
        scalar(field.type, resolved, v, `${path}[${index}]`, true),
      );
    } else if (values.length === 1) {
      object[field.name] = scalar(field.type, resolved, values[0], path, true);
    } else {
      throw new RequestFieldError(
        path,
        `(${source}) is not repeated but has ${values.length} values`,
      );
    }
  }
}

/** The query's values grouped by name, in order. */
function queryValues(query: string): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  if (query === '') return grouped;
  for (const [key, value] of new URLSearchParams(query)) {
    const list = grouped.get(key);
    if (list === undefined) grouped.set(key, [value]);
    else list.push(value);
  }
  return grouped;
}

/** The request message for a call, or a RequestFieldError naming what is wrong. */
export function requestMessage(type: protobuf.Type, parts: RequestParts): Uint8Array {
  const object = parts.body === undefined ? {} : messageObject(type, parts.body, '', 0);
  for (const [key, values] of queryValues(parts.query)) {
    setFromText(type, object, key, values, 'query parameter');
  }
  for (const [key, value] of Object.entries(parts.params)) {
    setFromText(type, object, key, [value], 'path parameter');
  }
  return type.encode(type.fromObject(object)).finish();
}

/** A reply message as proto3 JSON text. */
export function replyJson(type: protobuf.Type, bytes: Uint8Array): string {
  return `${JSON.stringify(type.toObject(type.decode(bytes), JSON_MAPPING))}\n`;
}

/** A request body as JSON, or a RequestFieldError saying why it is not. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new RequestFieldError('', `the body is not JSON: ${(error as Error).message}`);
  }
}
