// spec.routes[].grpc: REST in, gRPC out. The route's requests that go to the named backend
// are translated (JSON body, path and query parameters → the request message; the reply →
// proto3 JSON) and sent as one unary gRPC call; the proto comes from a ConfigMap the
// operator reads, so the gateway never needs to.
import { z } from 'zod';
import { dnsSubdomain, headerName } from './fields.js';

/** A fully qualified gRPC method, package.Service/Method, as in the HTTP/2 :path. */
export const GRPC_METHOD =
  /^([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*\/[A-Za-z_][A-Za-z0-9_]*$/;

/** A ConfigMap data key (Kubernetes: [-._a-zA-Z0-9]+, at most 253 characters). */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Request headers that never become metadata: hop-by-hop (RFC 9110 §7.6.1), HTTP/2
 * framing, and the names gRPC itself uses on the wire (grpc-timeout, grpc-encoding, …).
 */
const NOT_METADATA = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'content-type',
  'user-agent',
]);

/** Largest grpc.metadata allow-list. */
export const MAX_GRPC_METADATA = 32;

export function metadataNameError(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (NOT_METADATA.has(lower) || lower.startsWith('grpc-'))
    return `${JSON.stringify(name)} cannot be sent as gRPC metadata (hop-by-hop, framing or reserved by gRPC)`;
  if (lower.endsWith('-bin'))
    return `${JSON.stringify(name)} ends in -bin, which gRPC reserves for binary metadata; HTTP header values are text`;
  return undefined;
}

export const GrpcSchema = z
  .strictObject({
    backend: z.string().min(1).max(253).meta({
      description:
        'The backend of this route that speaks gRPC, by its name: its Service name, or the host (host:port) of its url. Requests the split sends there are translated; requests it sends to the monolith stay plain HTTP. A service/port backend and an http:// url are spoken to in cleartext HTTP/2 (h2c); an https:// url with TLS (system roots).',
    }),
    proto: z
      .strictObject({
        configMap: dnsSubdomain(
          'ConfigMap in the ApiRoute namespace that holds the proto. The operator reads it (the gateway does not) and follows its changes.',
        ),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(CONFIGMAP_KEY, {
            error: (i) =>
              `must be a ConfigMap key (letters, digits, '-', '_', '.'), got ${JSON.stringify(i.input)}`,
          })
          .meta({
            description:
              'Key in the ConfigMap: in data, a .proto source (one file; it may import the google/protobuf well-known types); in binaryData, a serialized FileDescriptorSet (protoc --include_imports -o).',
          }),
      })
      .meta({ description: 'Where the service definition is.' }),
    method: z
      .string()
      .max(512)
      .regex(GRPC_METHOD, {
        error: (i) =>
          `must be a fully qualified method, package.Service/Method (e.g. payments.v1.Payments/GetPayment), got ${JSON.stringify(i.input)}`,
      })
      .meta({
        description:
          'The unary method called, package.Service/Method. Streaming methods are refused (Accepted=False).',
      }),
    metadata: z
      .array(
        headerName('A request header name.').superRefine((name, ctx) => {
          const error = metadataNameError(name);
          if (error) ctx.addIssue({ code: 'custom', message: error });
        }),
      )
      .max(MAX_GRPC_METADATA)
      .default([])
      .meta({
        description:
          'Request headers sent as gRPC metadata (e.g. authorization, x-user-id), as they stand after auth and requestHeaders. x-request-id always goes. Hop-by-hop headers, grpc-* and *-bin names are refused.',
      }),
  })
  .meta({
    description:
      'REST to gRPC: requests to the backend become one unary call. The request message is the JSON body (POST, PUT, PATCH), with query parameters and then path parameters ({name}) set over it; the reply is proto3 JSON, gRPC status codes become HTTP statuses as grpc-gateway maps them, the route timeout is the deadline.',
  });

export type Grpc = z.output<typeof GrpcSchema>;

/**
 * What is wrong with a route's grpc.backend, given the names of its non-monolith backends
 * (schema.ts newServiceName) and its shadow backend; undefined when nothing is.
 */
export function grpcBackendError(
  grpc: Pick<Grpc, 'backend'> | undefined,
  backendNames: readonly (string | undefined)[],
  shadowBackend: string | undefined,
): string | undefined {
  if (grpc === undefined) return undefined;
  const names = backendNames.filter((n) => n !== undefined);
  if (!names.includes(grpc.backend)) {
    return `must name a non-monolith backend of this route (${names.length > 0 ? names.map((n) => JSON.stringify(n)).join(', ') : 'it has none: add the gRPC service to backends'}), got ${JSON.stringify(grpc.backend)}`;
  }
  if (shadowBackend === grpc.backend) {
    return `is also shadow.backend: shadow copies are plain HTTP and the gRPC backend cannot answer them; shadow another backend or drop shadow`;
  }
  return undefined;
}
