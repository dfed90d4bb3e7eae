// The gateway's engine: undici's Pool and its low-level dispatch API. A dispatch handler
// receives the response head and body chunks as callbacks and writes them straight into
// the client response, with backpressure, without building a Readable per response.
// bench/gateway.ts measures it bare against http-proxy-3 (figures in the README, Performance).
import type { ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { BodyBuffer } from './body-buffer.js';
import {
  classifyError,
  UpstreamError,
  type AttemptSink,
  type BodyTap,
  type Cancel,
  type CaptureFailure,
  type CaptureRequest,
  type CaptureSink,
  type ProxyEngine,
  type UpstreamPool,
  type UpstreamRequest,
} from './engine.js';
import type { Headers } from './transforms.js';

export interface UndiciEngineOptions {
  /** Connections per backend origin. */
  connections?: number;
  connectTimeoutMs?: number;
  /** How long an idle upstream connection is kept. */
  keepAliveTimeoutMs?: number;
}

class UndiciPool implements UpstreamPool {
  constructor(readonly pool: Pool) {}
  close(): Promise<void> {
    return this.pool.close();
  }
}

function onTimeout(handler: AttemptHandler): void {
  handler.timedOut();
}

function onDrain(this: ServerResponse): void {
  (this as ServerResponse & { [HANDLER]?: AttemptHandler })[HANDLER]?.drained();
}

function onSendTimeout(handler: AttemptHandler): void {
  handler.clientStalled();
}

const HANDLER = Symbol('figway.attempt');

/** One attempt: a class rather than closures, so a request allocates one object. */
class AttemptHandler implements Dispatcher.DispatchHandler, Cancel {
  controller: Dispatcher.DispatchController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private accepted = false;
  private discarded = false;
  private finished = false;
  private cancelled = false;
  private readonly tap: BodyTap | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly sink: AttemptSink,
    timeoutMs: number,
    private readonly sendTimeoutMs: number,
  ) {
    this.tap = sink.tap;
    this.timer = setTimeout(onTimeout, timeoutMs, this);
  }

  /** The client took what was buffered: read on from the upstream. */
  drained(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.resume();
  }

  /**
   * The client has not read for sendTimeoutMs. undici's body timeout does not run while
   * the stream is paused, so without this a client that stops reading would hold an
   * upstream connection forever.
   */
  clientStalled(): void {
    this.timer = undefined;
    if (this.finished) return;
    const error = new UpstreamError('body', 'client stopped reading: send timeout');
    this.controller?.abort(error);
    this.fail(error);
  }

  timedOut(): void {
    this.timer = undefined;
    if (this.finished || this.accepted || this.discarded) return;
    const error = new UpstreamError('timeout', 'no response head in time');
    this.fail(error);
    this.controller?.abort(error);
  }

  cancel(): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    const error = new UpstreamError('cancelled', 'attempt cancelled');
    if (this.controller) this.controller.abort(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // A request that waited in the pool past its timeout, or whose client left, must not
    // be sent late: undici only hands us the controller once a socket is ready.
    if (this.cancelled || this.finished) {
      controller.abort(new UpstreamError('cancelled', 'attempt cancelled'));
    }
  }

  onBodySent(chunk: Buffer | string): void {
    this.sink.onBodySent(chunk.length);
    if (this.tap !== undefined)
      this.tap.requestChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  onRequestSent(): void {
    if (this.tap !== undefined) this.tap.requestSent();
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Headers,
  ): void {
    if (this.finished || this.cancelled) return;
    // 1xx informational heads (100 Continue) are not the response.
    if (statusCode < 200) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sink.onHead(statusCode, headers)) {
      this.accepted = true;
      (this.res as ServerResponse & { [HANDLER]?: AttemptHandler })[HANDLER] = this;
    } else {
      // Read and drop the rest so the connection stays reusable; the sink is done with us.
      this.discarded = true;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.accepted || this.finished) return;
    if (this.tap !== undefined) this.tap.responseChunk(chunk);
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', onDrain);
      this.timer = setTimeout(onSendTimeout, this.sendTimeoutMs, this);
    }
  }

  onResponseEnd(): void {
    clearTimeout(this.timer);
    if (this.discarded || this.finished) return;
    this.finished = true;
    if (this.accepted) {
      this.res.end();
      this.sink.onEnd(undefined);
    } else {
      // Only 1xx heads were seen; undici ends like this for an upgrade refusal.
      this.sink.onEnd(new UpstreamError('reset', 'response ended without a head'));
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.fail(classifyError(error, this.accepted));
  }

  private fail(error: UpstreamError): void {
    if (this.discarded || this.finished) return;
    this.finished = true;
    this.sink.onEnd(error);
  }
}

function onCaptureTimeout(handler: CaptureHandler): void {
  handler.fail('timeout', new UpstreamError('timeout', 'no whole answer in time'));
}

/** One request of the gateway's own: the answer goes into memory, never past its limit. */
class CaptureHandler implements Dispatcher.DispatchHandler, Cancel {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout;
  private status = 0;
  private headers: Headers = {};
  private readonly body: BodyBuffer;
  /** A HEAD answer's content-length announces a body that never comes. */
  private readonly head: boolean;
  private done = false;

  constructor(
    private readonly sink: CaptureSink,
    request: CaptureRequest,
  ) {
    this.body = new BodyBuffer(request.maxBodyBytes);
    this.head = request.method === 'HEAD';
    this.timer = setTimeout(onCaptureTimeout, request.timeoutMs, this);
  }

  cancel(): void {
    this.fail('cancelled', new UpstreamError('cancelled', 'capture cancelled'));
  }

  /** Ends the capture without an answer; aborts the request if it is still running. */
  fail(reason: CaptureFailure, error: Error): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.controller?.abort(error);
    this.sink.onCaptureFailed(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new UpstreamError('cancelled', 'capture cancelled'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Headers,
  ): void {
    if (this.done || statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    if (!this.head && Number(headers['content-length']) > this.body.max) this.tooLarge();
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.done && !this.body.push(chunk)) this.tooLarge();
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (this.status === 0) this.sink.onCaptureFailed('reset');
    else this.sink.onCaptured(this.status, this.headers, this.body.contents());
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.done) return;
    this.fail(classifyError(error, this.status !== 0).reason, error);
  }

  private tooLarge(): void {
    this.fail('too-large', new UpstreamError('body', 'answer larger than maxBodyBytes'));
  }
}

export class UndiciEngine implements ProxyEngine {
  readonly name = 'undici';

  constructor(private readonly options: UndiciEngineOptions = {}) {}

  createPool(origin: URL): UpstreamPool {
    return new UndiciPool(
      new Pool(origin.origin, {
        connections: this.options.connections ?? 256,
        pipelining: 1,
        keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
        // The gateway times heads itself (per try); bodies get the idle timeout per request.
        headersTimeout: 0,
        connect: { timeout: this.options.connectTimeoutMs ?? 5_000 },
        // Proxies forward what upstreams send; undici must not reject odd but legal heads.
        maxHeaderSize: 64 * 1024,
      }),
    );
  }

  capture(pool: UpstreamPool, request: CaptureRequest, sink: CaptureSink): Cancel {
    if (!(pool instanceof UndiciPool)) throw new TypeError('pool was created by another engine');
    const handler = new CaptureHandler(sink, request);
    pool.pool.dispatch(
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        bodyTimeout: request.timeoutMs,
        headersTimeout: 0,
      },
      handler,
    );
    return handler;
  }

  send(
    pool: UpstreamPool,
    request: UpstreamRequest,
    res: ServerResponse,
    sink: AttemptSink,
  ): Cancel {
    const handler = new AttemptHandler(res, sink, request.timeoutMs, request.sendTimeoutMs);
    if (!(pool instanceof UndiciPool)) throw new TypeError('pool was created by another engine');
    pool.pool.dispatch(
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        bodyTimeout: request.idleTimeoutMs,
        headersTimeout: 0,
      },
      handler,
    );
    return handler;
  }
}
