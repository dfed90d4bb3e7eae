// grpc (REST to gRPC): a request the split sends to the route's gRPC backend is answered
// here with one unary call: the JSON body (POST, PUT, PATCH), query and path parameters
// become the request message (grpc/message.ts), the reply goes back as proto3 JSON, a
// failed call as grpc-gateway's { code, message, details } with its HTTP status
// (grpc/status.ts). Requests the split sends to the monolith pass through as plain HTTP.
// The descriptor is loaded once per config; the channel is shared (grpc/channels.ts).
import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { CompiledGrpc, CompiledRoute } from '../../api/index.js';
import { BodyBuffer } from '../body-buffer.js';
import { compilePathParameters } from '../matcher.js';
import {
  stageAnswerHeaders,
  type Answer,
  type StageBuilder,
  type StageContext,
} from '../pipeline.js';
import type { Headers } from '../transforms.js';
import { errorBody, codeName, httpStatusOf, type StatusDetail } from '../grpc/status.js';
import { parseJsonBody, replyJson, requestMessage, RequestFieldError } from '../grpc/message.js';

/** Largest request body a translated route reads, in bytes; larger ones get 413. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** Methods whose body becomes the request message; the others' bodies are not read. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** grpc-status-details-bin: a google.rpc.Status whose details are google.protobuf.Any. */
const RPC_STATUS = protobuf.Root.fromJSON({
  nested: {
    Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
    Status: {
      fields: {
        code: { type: 'int32', id: 1 },
        message: { type: 'string', id: 2 },
        details: { rule: 'repeated', type: 'Any', id: 3 },
      },
    },
  },
}).lookupType('Status');

/** The details of a failed call's rich status, if the server sent one it can be read from. */
function statusDetails(error: ServiceError): StatusDetail[] | undefined {
  const raw = error.metadata.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return undefined;
  try {
    const decoded = RPC_STATUS.toObject(RPC_STATUS.decode(raw), { bytes: String, arrays: true });
    return (decoded.details as { typeUrl?: string; value?: string }[]).map((d) => ({
      '@type': d.typeUrl ?? '',
      value: d.value ?? '',
    }));
  } catch {
    return undefined; // a malformed rich status still leaves code and message
  }
}

function refusal(status: number, reason: string, message: string): Answer {
  return { status, reason, message };
}

const NO_WEBSOCKET = refusal(
  501,
  'grpc-no-websocket',
  'this route translates to unary gRPC calls: websocket (and gRPC streaming) is not supported',
);

const identity = (buffer: Buffer): Buffer => buffer;

/** Reads the request body up to MAX_REQUEST_BYTES; undefined when it is larger. */
function readBody(ctx: StageContext): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const req = ctx.req;
    const buffer = new BodyBuffer(MAX_REQUEST_BYTES);
    const onData = (chunk: Buffer) => {
      if (!buffer.push(chunk)) {
        cleanup();
        // Stop reading: the answer says connection: close (exchange.ts closeIfUnread).
        req.pause();
        resolve(undefined);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(buffer.contents());
    };
    const onGone = () => {
      cleanup();
      reject(new Error('the client went away before its request body was complete'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onGone);
      req.off('error', onGone);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    // 'close' before 'end': the client left mid-body.
    req.on('close', onGone);
    req.on('error', onGone);
  });
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** The call's metadata: the request id and the route's allowed headers, as upstream has them. */
function callMetadata(grpc: CompiledGrpc, ctx: StageContext): Metadata | Answer {
  const metadata = new Metadata();
  try {
    metadata.set('x-request-id', ctx.plan.requestId);
    for (const name of grpc.metadata) {
      const value = ctx.upstreamHeaders[name];
      if (typeof value === 'string') metadata.set(name, value);
      else if (Array.isArray(value)) for (const v of value) metadata.add(name, v);
    }
  } catch (error) {
    // grpc-js refuses values gRPC metadata cannot carry (outside printable ASCII).
    return refusal(
      400,
      'grpc-bad-metadata',
      error instanceof Error ? error.message : String(error),
    );
  }
  return metadata;
}

interface LoadedMethod {
  readonly path: string;
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

/** The descriptor, loaded once per config; a string says why it cannot be. */
function loadMethod(grpc: CompiledGrpc): LoadedMethod | string {
  if (grpc.descriptor === undefined) {
    return 'the route table has no descriptor for this route (compiled without its proto ConfigMap)';
  }
  try {
    const root = protobuf.Root.fromJSON(grpc.descriptor);
    root.resolveAll();
    return {
      path: `/${grpc.service}/${grpc.method}`,
      request: root.lookupType(grpc.requestType),
      response: root.lookupType(grpc.responseType),
    };
  } catch (error) {
    return `the route's descriptor cannot be loaded: ${(error as Error).message}`;
  }
}

export const grpcStage: StageBuilder = (route, services) => {
  const grpc = route?.grpc;
  if (route === undefined || grpc === undefined) return undefined;
  const backend = route.backends.find((b) => b.name === grpc.backend);
  const method = loadMethod(grpc);
  if (typeof method === 'string' || backend === undefined) {
    const why = typeof method === 'string' ? method : `backend ${grpc.backend} is not in the route`;
    services.logger.error('gRPC route cannot be served; its gRPC requests get 503', {
      route: route.name,
      reason: why,
    });
    const unavailable = refusal(503, 'grpc-unavailable', why);
    return {
      name: 'grpc',
      onRequest: (ctx) => (ctx.plan.backend.name === grpc.backend ? unavailable : undefined),
    };
  }
  const client = services.grpcChannels.client(backend.url);
  const calls = services.metrics.grpcCallSeries(route.name);
  const params = compilePathParameters(route.match.path);
  return {
    name: 'grpc',
    onRequest(ctx) {
      if (ctx.plan.backend.name !== grpc.backend) return undefined;
      if (ctx.req.headers.upgrade?.toLowerCase() === 'websocket') return NO_WEBSOCKET;
      return translate(ctx, route, grpc, method, client, calls, params);
    },
  };
};

async function translate(
  ctx: StageContext,
  route: CompiledRoute,
  grpc: CompiledGrpc,
  method: LoadedMethod,
  client: Client,
  calls: readonly { inc(): void }[],
  params: (path: string) => Readonly<Record<string, string>>,
): Promise<Answer> {
  let body: unknown;
  if (BODY_METHODS.has(ctx.plan.method)) {
    if (!isJsonType(ctx.req.headers['content-type'])) {
      return refusal(
        415,
        'grpc-unsupported-media-type',
        `this route takes JSON bodies (content-type application/json), got ${ctx.req.headers['content-type'] ?? ''}`,
      );
    }
    const bytes = await readBody(ctx);
    if (bytes === undefined) {
      return refusal(413, 'body-too-large', `the request body is over ${MAX_REQUEST_BYTES} bytes`);
    }
    try {
      body = parseJsonBody(bytes);
    } catch (error) {
      return refusal(400, 'grpc-bad-request', (error as Error).message);
    }
  }
  let message: Uint8Array;
  try {
    message = requestMessage(method.request, {
      body,
      query: ctx.plan.query,
      params: params(ctx.plan.path),
    });
  } catch (error) {
    if (error instanceof RequestFieldError) {
      return refusal(400, 'grpc-bad-request', error.message);
    }
    throw error;
  }
  const metadata = callMetadata(grpc, ctx);
  if (!(metadata instanceof Metadata)) return metadata;
  return new Promise<Answer>((resolve) => {
    const socket = ctx.req.socket;
    const call = client.makeUnaryRequest<Buffer, Buffer>(
      method.path,
      identity,
      identity,
      Buffer.from(message.buffer, message.byteOffset, message.byteLength),
      metadata,
      { deadline: Date.now() + route.timeoutMs },
      (error, reply) => {
        socket.off('close', cancel);
        const code = error?.code ?? 0;
        calls[code]?.inc();
        if (error !== null) {
          resolve(failedCall(error, stageAnswerHeaders(ctx, httpStatusOf(error.code))));
          return;
        }
        let json: string;
        try {
          json = replyJson(method.response, reply ?? Buffer.alloc(0));
        } catch (decodeError) {
          resolve(
            refusal(
              502,
              'grpc-bad-reply',
              `the reply is not a ${grpc.responseType}: ${(decodeError as Error).message}`,
            ),
          );
          return;
        }
        resolve({
          status: 200,
          reason: 'grpc',
          message: '',
          headers: stageAnswerHeaders(ctx, 200),
          body: json,
          fromBackend: true,
        });
      },
    );
    // A client that leaves cancels its call: the backend stops working for nobody.
    const cancel = () => {
      call.cancel();
    };
    socket.once('close', cancel);
  });
}

function failedCall(error: ServiceError, headers: Headers): Answer {
  return {
    status: httpStatusOf(error.code),
    headers,
    reason: `grpc-${codeName(error.code).toLowerCase().replaceAll('_', '-')}`,
    message: error.details,
    body: errorBody(error.code, error.details, statusDetails(error)),
    fromBackend: true,
  };
}
