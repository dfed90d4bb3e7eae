// The gRPC half of the route table: a route's grpc settings with the service definition
// compiled from its proto (a .proto source or a FileDescriptorSet) into a protobufjs JSON
// descriptor of just the types its method needs. The operator compiles it from the
// ConfigMap it reads; the gateway loads it once per config. Pure.
import protobuf from 'protobufjs';
// Adds Root.fromDescriptor (FileDescriptorSet input).
import 'protobufjs/ext/descriptor/index.js';
import { z } from 'zod';
import type { Grpc } from './grpc-schema.js';

export const CompiledGrpcSchema = z.object({
  /** Name of the route backend (CompiledBackend.name) that speaks gRPC. */
  backend: z.string(),
  /** Fully qualified service, e.g. payments.v1.Payments. */
  service: z.string(),
  method: z.string(),
  /** Fully qualified request and response message types. */
  requestType: z.string(),
  responseType: z.string(),
  /** Request headers sent as metadata, lower-cased. */
  metadata: z.array(z.string()),
  /**
   * protobufjs JSON (Root.toJSON) of the types the method needs, field names in lowerCamelCase
   * as the proto3 JSON mapping has them. Absent when the table was compiled without the
   * proto (a local run from an ApiRoute file): the gateway then answers 503.
   */
  descriptor: z.record(z.string(), z.unknown()).optional(),
});

export type CompiledGrpc = z.output<typeof CompiledGrpcSchema>;

/** A route's compiled proto: what goes into CompiledGrpc besides the spec's fields. */
export interface GrpcDescriptor {
  readonly service: string;
  readonly method: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly descriptor: Record<string, unknown>;
}

/** The proto as found in the ConfigMap. */
export type ProtoSource =
  | { readonly kind: 'proto'; readonly text: string }
  | { readonly kind: 'descriptorSet'; readonly bytes: Uint8Array };

/** Accepted=False reasons of a proto that cannot serve the route. */
export type ProtoFailureReason = 'ProtoInvalid' | 'MethodNotFound' | 'MethodNotUnary';

export type DescriptorResult =
  | { readonly ok: true; readonly value: GrpcDescriptor }
  | { readonly ok: false; readonly reason: ProtoFailureReason; readonly message: string };

/** Imports a .proto source may have: the well-known types protobufjs ships. */
const WELL_KNOWN = 'google/protobuf/';

function failure(reason: ProtoFailureReason, message: string): DescriptorResult {
  return { ok: false, reason, message };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function loadRoot(source: ProtoSource): protobuf.Root | string {
  try {
    if (source.kind === 'descriptorSet') {
      return (
        protobuf.Root as unknown as { fromDescriptor(bytes: Uint8Array): protobuf.Root }
      ).fromDescriptor(source.bytes);
    }
    const parsed = protobuf.parse(source.text, { keepCase: true });
    for (const file of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      const common = file.startsWith(WELL_KNOWN) ? protobuf.common.get(file) : null;
      if (common === null) {
        return `imports ${JSON.stringify(file)}: only the google/protobuf well-known types can be imported; put the definitions in one file, or use a FileDescriptorSet (protoc --include_imports -o) in binaryData`;
      }
      if (common.nested !== undefined) parsed.root.addJSON(common.nested);
    }
    return parsed.root;
  } catch (error) {
    return messageOf(error);
  }
}

/** The types `type` needs, itself included, by full name (without the leading dot). */
function collectTypes(
  type: protobuf.Type | protobuf.Enum,
  into: Map<string, protobuf.Type | protobuf.Enum>,
): void {
  const name = type.fullName.slice(1);
  if (into.has(name)) return;
  into.set(name, type);
  if (type instanceof protobuf.Type) {
    for (const field of type.fieldsArray) {
      if (field.resolvedType !== null) collectTypes(field.resolvedType, into);
    }
  }
}

/**
 * A type's JSON without its nested types (added on their own when needed), each field
 * under its JSON name (lowerCamelCase, or its json_name): the proto3 JSON mapping's key,
 * and what protobufjs's toObject writes.
 */
function typeJson(type: protobuf.Type | protobuf.Enum): Record<string, unknown> {
  const json = { ...(type.toJSON() as unknown as Record<string, unknown>) };
  delete json.nested;
  if (type instanceof protobuf.Enum) return json;
  const jsonName = (name: string) => type.fields[name]?.jsonName ?? name;
  const fields = json.fields as Record<string, Record<string, unknown>> | undefined;
  if (fields !== undefined) {
    json.fields = Object.fromEntries(
      Object.entries(fields).map(([k, v]) => {
        const field = { ...v };
        delete field.jsonName;
        return [jsonName(k), field];
      }),
    );
  }
  const oneofs = json.oneofs as Record<string, { oneof: string[] }> | undefined;
  if (oneofs !== undefined) {
    json.oneofs = Object.fromEntries(
      Object.entries(oneofs).map(([k, v]) => [k, { ...v, oneof: v.oneof.map(jsonName) }]),
    );
  }
  return json;
}

/** Places `json` at the dotted `name` of a protobufjs JSON namespace tree. */
function place(tree: Record<string, unknown>, name: string, json: Record<string, unknown>): void {
  let node = tree;
  for (const part of name.split('.')) {
    const nested = (node.nested ??= {}) as Record<string, Record<string, unknown>>;
    node = nested[part] ??= {};
  }
  Object.assign(node, json);
}

/**
 * Compiles a proto for a route's method: parses it, checks that the method exists, is
 * unary, and that every path parameter names a field of the request message, and keeps
 * only the types the method needs.
 */
export function compileGrpcDescriptor(
  source: ProtoSource,
  method: string,
  pathParameters: readonly string[],
): DescriptorResult {
  const root = loadRoot(source);
  if (typeof root === 'string') return failure('ProtoInvalid', root);
  try {
    root.resolveAll();
  } catch (error) {
    return failure('ProtoInvalid', messageOf(error));
  }
  const slash = method.indexOf('/');
  const serviceName = method.slice(0, slash);
  const methodName = method.slice(slash + 1);
  const service = root.lookup(serviceName);
  if (!(service instanceof protobuf.Service)) {
    const services = listServices(root.nestedArray);
    return failure(
      'MethodNotFound',
      `service ${serviceName} is not in the proto (${services.length > 0 ? `it has ${services.join(', ')}` : 'it defines no service'})`,
    );
  }
  const rpc = service.methods[methodName];
  if (rpc === undefined) {
    return failure(
      'MethodNotFound',
      `method ${methodName} is not in service ${serviceName} (it has ${Object.keys(service.methods).join(', ') || 'none'})`,
    );
  }
  if (rpc.requestStream === true || rpc.responseStream === true) {
    const kind =
      rpc.requestStream === true && rpc.responseStream === true
        ? 'bidirectional streaming'
        : rpc.requestStream === true
          ? 'client streaming'
          : 'server streaming';
    return failure(
      'MethodNotUnary',
      `method ${method} is ${kind}: only unary methods can be translated from REST`,
    );
  }
  const request = rpc.resolvedRequestType as protobuf.Type;
  const response = rpc.resolvedResponseType as protobuf.Type;
  const missing = pathParameters.filter(
    (p) => !request.fieldsArray.some((f) => f.name === p || f.jsonName === p),
  );
  if (missing.length > 0) {
    return failure(
      'MethodNotFound',
      `path parameter ${missing.map((m) => `{${m}}`).join(', ')} names no field of ${request.fullName.slice(1)} (it has ${request.fieldsArray.map((f) => f.name).join(', ') || 'no fields'})`,
    );
  }
  const types = new Map<string, protobuf.Type | protobuf.Enum>();
  collectTypes(request, types);
  collectTypes(response, types);
  const tree: Record<string, unknown> = {};
  for (const [name, type] of types) place(tree, name, typeJson(type));
  return {
    ok: true,
    value: {
      service: serviceName,
      method: methodName,
      requestType: request.fullName.slice(1),
      responseType: response.fullName.slice(1),
      descriptor: tree,
    },
  };
}

function listServices(children: readonly protobuf.ReflectionObject[]): string[] {
  const out: string[] = [];
  const walk = (children: readonly protobuf.ReflectionObject[]) => {
    for (const child of children) {
      if (child instanceof protobuf.Service) out.push(child.fullName.slice(1));
      else if (child instanceof protobuf.Namespace) walk(child.nestedArray);
    }
  };
  walk(children);
  return out;
}

/** The route table entry of a route's grpc settings, with its descriptor when there is one. */
export function compileGrpc(grpc: Grpc, descriptor: GrpcDescriptor | undefined): CompiledGrpc {
  const slash = grpc.method.indexOf('/');
  return {
    backend: grpc.backend,
    service: descriptor?.service ?? grpc.method.slice(0, slash),
    method: descriptor?.method ?? grpc.method.slice(slash + 1),
    requestType: descriptor?.requestType ?? '',
    responseType: descriptor?.responseType ?? '',
    metadata: grpc.metadata.map((h) => h.toLowerCase()),
    ...(descriptor !== undefined && { descriptor: descriptor.descriptor }),
  };
}
