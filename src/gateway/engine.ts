// The proxy engine: sends one attempt of a request to one backend and streams the answer
// into the client response. Retries, fallback, headers and metrics live in the gateway
// (proxy.ts); an engine only moves bytes, so the gateway's cost can be measured against
// its bare engine (bench/gateway.ts) and the engine swapped without touching routing.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Headers } from './transforms.js';

/** Why an attempt failed, as counted in figway_gateway_upstream_errors_total. */
export type FailureReason =
  /** TCP connect refused, unreachable or timed out: nothing was sent. */
  | 'connect-failure'
  /** No response head within the attempt's timeout. */
  | 'timeout'
  /** The connection broke before a response head arrived. */
  | 'reset'
  /** The backend's name does not resolve: there is no backend to send to. */
  | 'no-backend'
  /** The response broke off after its head was sent to the client. */
  | 'body'
  /** The gateway cancelled the attempt (client gone, shutdown). */
  | 'cancelled';

export class UpstreamError extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);
const NO_BACKEND_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

/** Maps a transport error to a failure reason; `headSent` says whether the client saw a head. */
export function classifyError(error: unknown, headSent: boolean): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code ?? '';
  const message = err.message || code;
  if (headSent) return new UpstreamError('body', `response broke off: ${message}`, { cause: err });
  if (NO_BACKEND_CODES.has(code)) {
    return new UpstreamError('no-backend', `backend does not resolve: ${message}`, { cause: err });
  }
  if (CONNECT_CODES.has(code)) {
    return new UpstreamError('connect-failure', `cannot connect: ${message}`, { cause: err });
  }
  return new UpstreamError('reset', `connection reset: ${message}`, { cause: err });
}

export interface UpstreamRequest {
  method: string;
  /** Request target: path and query. */
  path: string;
  headers: Headers;
  /** The client request when it carries a body, streamed as it arrives; else null. */
  body: Readable | null;
  /** Time allowed until the response head arrives. */
  timeoutMs: number;
  /** Time allowed between response body chunks. */
  idleTimeoutMs: number;
  /**
   * Time allowed for a client that stopped reading to take the next chunk; then the
   * response is cut and the upstream connection freed (nginx send_timeout).
   */
  sendTimeoutMs: number;
}

/**
 * Sees the bodies of an exchange as they stream: the shadow stage's copy of what the
 * client sent and got. Exchanges of routes without shadowing have none, and then the
 * engine's only cost is one field check per chunk.
 */
export interface BodyTap {
  /** A chunk of the request body went upstream. */
  requestChunk(chunk: Buffer): void;
  /** The request, body and all, went upstream. */
  requestSent(): void;
  /** A chunk of the delivered response went to the client. */
  responseChunk(chunk: Buffer): void;
}

/** Two taps on one exchange (a cache fill and a shadow copy): each sees every chunk. */
export class TeeTap implements BodyTap {
  constructor(
    readonly first: BodyTap,
    readonly second: BodyTap,
  ) {}
  requestChunk(chunk: Buffer): void {
    this.first.requestChunk(chunk);
    this.second.requestChunk(chunk);
  }
  requestSent(): void {
    this.first.requestSent();
    this.second.requestSent();
  }
  responseChunk(chunk: Buffer): void {
    this.first.responseChunk(chunk);
    this.second.responseChunk(chunk);
  }
}

/** The tap of one kind among an exchange's taps, if it has one. */
export function tapOf<T extends BodyTap>(
  tap: BodyTap | undefined,
  kind: abstract new (...args: never[]) => T,
): T | undefined {
  if (tap instanceof kind) return tap;
  if (tap instanceof TeeTap) return tapOf(tap.first, kind) ?? tapOf(tap.second, kind);
  return undefined;
}

/** The gateway's side of one attempt. */
export interface AttemptSink {
  /** Read once when the attempt starts. */
  readonly tap: BodyTap | undefined;
  /**
   * The upstream response head arrived. Return true after writing the client's head
   * (res.writeHead) to have the engine stream the body into res; false to discard this
   * response (the gateway retries or falls back), after which the sink hears nothing more.
   */
  onHead(status: number, headers: Headers): boolean;
  /** A chunk of the request body went upstream (bytes in, for the access log). */
  onBodySent(bytes: number): void;
  /** The attempt is over: no error when the body was delivered and res ended. */
  onEnd(error: UpstreamError | undefined): void;
}

/** A request the gateway sends on its own account (a shadow copy): answered into memory. */
export interface CaptureRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Buffer | null;
  /** Time allowed for the whole answer, body included. */
  timeoutMs: number;
  /** Largest body collected; a larger answer fails as too-large, unread. */
  maxBodyBytes: number;
}

export type CaptureFailure = FailureReason | 'too-large';

export interface CaptureSink {
  /** The whole answer arrived within the limits. */
  onCaptured(status: number, headers: Headers, body: Buffer): void;
  /** No answer to keep: the request failed, timed out, was cancelled or was too large. */
  onCaptureFailed(reason: CaptureFailure): void;
}

/** A connection pool to one backend origin. */
export interface UpstreamPool {
  /** Closes once the requests it is serving have finished. */
  close(): Promise<void>;
}

export interface ProxyEngine {
  readonly name: string;
  /** A keep-alive pool for one origin, e.g. http://orders.shop.svc:80. */
  createPool(origin: URL): UpstreamPool;
  /** Sends a request of the gateway's own and collects its answer; cancellable like an attempt. */
  capture(pool: UpstreamPool, request: CaptureRequest, sink: CaptureSink): Cancel;
  /** Starts an attempt; the returned function cancels it (client gone). */
  send(
    pool: UpstreamPool,
    request: UpstreamRequest,
    res: ServerResponse,
    sink: AttemptSink,
  ): Cancel;
}

/** Cancels an attempt; safe to call more than once or after the attempt ended. */
export interface Cancel {
  cancel(): void;
}
