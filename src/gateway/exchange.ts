// One client request from its plan to the end of its response: runs the route's stages,
// sends attempts through the engine, and performs what the retry policy (retry.ts)
// decides. It decides nothing itself beyond moving bytes and recording what happened.
//
// Hot-path discipline (DESIGN.md): a request allocates one Exchange and one engine
// handler; routes without asynchronous stages allocate no promise; metrics are plain
// number increments on series resolved per config.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { answerBody, writeAnswer } from './answer.js';
import {
  TeeTap,
  UpstreamError,
  type AttemptSink,
  type BodyTap,
  type Cancel,
  type FailureReason,
  type ProxyEngine,
} from './engine.js';
import {
  runAnswerHeadStages,
  runDoneStages,
  runRequestStages,
  runResponseHeadStages,
  type Answer,
  type Outcome,
  type RequestStep,
  type StageContext,
  type StoredResponse,
} from './pipeline.js';
import { GATEWAY_BACKEND } from './metrics.js';
import { upstreamPath, type ProxyPlan } from './plan.js';
import { afterFailure, afterHead, type AttemptState, type Decision } from './retry.js';
import type { RateLimitDecision } from './rate-limits.js';
import type { RuntimeBackend } from './runtime.js';
import type { GatewayTracing, RequestTrace } from './tracing.js';
import { endToEndHeaders, hasBody, IDEMPOTENT, type Headers } from './transforms.js';

/** What an exchange needs of the gateway that runs it. */
export interface ExchangeHost {
  readonly engine: ProxyEngine;
  readonly draining: boolean;
  readonly backendHeader: string;
  /** Longest a response may wait for a client that stopped reading (nginx send_timeout). */
  readonly sendTimeoutMs: number;
  readonly tracing: GatewayTracing;
  logUpstreamError(exchange: Exchange, error: UpstreamError): void;
  finished(exchange: Exchange): void;
}

const EXCHANGE = Symbol('figway.exchange');
type TrackedResponse = ServerResponse & { [EXCHANGE]?: Exchange };

function onResponseClose(this: TrackedResponse): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined && !this.writableFinished) exchange.clientGone();
}

function onRetryTimer(exchange: Exchange): void {
  exchange.retryTimer = undefined;
  exchange.send();
}

export class Exchange implements AttemptSink, StageContext, Outcome, AttemptState {
  readonly started = performance.now();
  readonly upstreamHeaders: Headers;
  readonly replayable: boolean;
  /** Set by the api-key stage (StageContext). */
  consumer: string | undefined = undefined;
  /** Set by the rate-limit stage (StageContext). */
  rateLimit: RateLimitDecision | undefined = undefined;
  backend: RuntimeBackend;
  status = 0;
  retries = 0;
  fellBack = false;
  local = false;
  failure: FailureReason | undefined;
  done = false;
  totalMs = 0;
  upstreamMs: number | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  /** Set by tapBodies (cache and shadow stages); read by the engine at each attempt's start. */
  tap: BodyTap | undefined = undefined;
  /** Spans of this request; undefined when the gateway does not trace. */
  readonly trace: RequestTrace | undefined;
  private deadline: number;
  private attempt: Cancel | undefined;
  private attemptStarted = 0;
  private readonly body: IncomingMessage | null;
  private readonly socket: Socket;
  private bodyBytes = 0;
  private readonly bytesWrittenAtStart: number;

  constructor(
    private readonly host: ExchangeHost,
    readonly plan: ProxyPlan,
    readonly req: IncomingMessage,
    readonly res: TrackedResponse,
  ) {
    this.backend = plan.backend;
    this.upstreamHeaders = plan.headers;
    this.trace = host.tracing.startRequest(plan, req.headers);
    this.deadline = this.started + plan.route.timeoutMs;
    const bodyPresent = hasBody(req.headers);
    this.body = bodyPresent ? req : null;
    // Bodies are streamed, never buffered, so a request with one can be sent only once.
    this.replayable = !bodyPresent && IDEMPOTENT.has(plan.method);
    this.socket = req.socket;
    this.bytesWrittenAtStart = this.socket.bytesWritten;
    res[EXCHANGE] = this;
    res.once('close', onResponseClose);
  }

  // Outcome, for done stages.
  get backendName(): string {
    return this.backend.name;
  }
  /**
   * Request body bytes, as sent upstream. Not the socket's count: Node reads the head and
   * the first body bytes in one go, before the exchange exists to take a reading.
   */
  get bytesIn(): number {
    return this.bodyBytes;
  }
  get bytesOut(): number {
    return this.socket.bytesWritten - this.bytesWrittenAtStart;
  }
  // AttemptState, for the retry policy.
  get onMonolith(): boolean {
    return this.backend.monolith;
  }
  get remainingMs(): number {
    return this.deadline - performance.now();
  }

  tapBodies(tap: BodyTap): void {
    this.tap = this.tap === undefined ? tap : new TeeTap(this.tap, tap);
  }

  /** Runs the request stages, then the first attempt. */
  start(): void {
    if (this.plan.pipeline.request.length === 0) {
      this.send();
      return;
    }
    runRequestStages(this.plan.pipeline, this, (answer: RequestStep) => {
      if (this.done) return;
      if (answer === undefined) this.send();
      else if (answer.stored !== undefined) this.serveStored(answer.stored);
      else this.answer(answer, answer.fromBackend !== true);
    });
  }

  send(): void {
    if (this.done) return;
    const backend = this.backend;
    const remaining = this.remainingMs;
    if (remaining <= 0) {
      this.fail(new UpstreamError('timeout', 'route timeout spent before the attempt'), false);
      return;
    }
    this.upstreamHeaders.host = backend.host;
    this.trace?.startAttempt(this.plan.method, backend, this.upstreamHeaders, this.fellBack);
    this.attemptStarted = performance.now();
    this.attempt = this.host.engine.send(
      backend.pool,
      {
        method: this.plan.method,
        path: upstreamPath(this.plan, backend),
        headers: this.upstreamHeaders,
        body: this.body,
        timeoutMs: Math.min(this.plan.route.perTryTimeoutMs, remaining),
        idleTimeoutMs: this.plan.route.timeoutMs,
        sendTimeoutMs: this.host.sendTimeoutMs,
      },
      this.res,
      this,
    );
  }

  onHead(status: number, headers: Headers): boolean {
    if (this.done) return false;
    const decision = afterHead(this.plan.route.retry, this, status, Math.random());
    this.trace?.attemptHead(status, decision.action === 'deliver');
    if (decision.action !== 'deliver') {
      this.perform(decision, `upstream answered ${status}`);
      return false;
    }
    this.status = status;
    const out = endToEndHeaders(headers);
    runResponseHeadStages(this.plan.pipeline, this, status, out);
    out[this.host.backendHeader] = this.backend.name;
    out['x-request-id'] = this.plan.requestId;
    this.closeIfUnread(out);
    this.res.writeHead(status, out);
    return true;
  }

  onBodySent(bytes: number): void {
    this.bodyBytes += bytes;
  }

  onEnd(error: UpstreamError | undefined): void {
    this.attempt = undefined;
    if (this.done) return;
    if (error === undefined) {
      this.trace?.endAttempt(undefined);
      this.upstreamMs = performance.now() - this.attemptStarted;
      this.finish(this.status);
      return;
    }
    this.fail(error, true);
  }

  /** An attempt failed (or could not start): perform what the policy decides. */
  private fail(error: UpstreamError, counted: boolean): void {
    if (counted) this.backend.series.upstreamError(error.reason);
    this.trace?.endAttempt(error.reason);
    this.failure = error.reason;
    const decision = afterFailure(
      this.plan.route.retry,
      this,
      error.reason,
      this.res.headersSent,
      Math.random(),
    );
    if (decision.action !== 'retry') this.host.logUpstreamError(this, error);
    this.perform(decision, error.message, error);
  }

  private perform(decision: Decision, why: string, error?: UpstreamError): void {
    switch (decision.action) {
      case 'retry':
        this.retries += 1;
        this.backend.series.retries.inc();
        this.retryTimer = setTimeout(onRetryTimer, decision.delayMs, this);
        return;
      case 'fallback':
        this.fallback();
        return;
      case 'fail':
        if (decision.status === 0) {
          // The client already has a head and part of a body: all we can do is cut it off.
          this.res.destroy(error);
          this.finish(this.status);
        } else {
          this.answer(
            { status: decision.status, reason: error?.reason ?? 'upstream', message: why },
            false,
          );
        }
        return;
      case 'deliver':
        // afterHead's deliver is handled by onHead; nothing else returns it.
        return;
    }
  }

  private fallback(): void {
    this.backend.series.fallbacks.inc();
    this.fellBack = true;
    this.backend = this.plan.route.monolith;
    // The monolith gets a full route timeout of its own: the new service may have spent
    // all of the first one, and a fallback that cannot succeed is no fallback.
    this.deadline = performance.now() + this.plan.route.timeoutMs;
    this.send();
  }

  /** Answers the client from the gateway: a stage's answer, or an upstream failure. */
  answer(answer: Answer, local: boolean): void {
    this.status = answer.status;
    this.local = local;
    const body = answerBody(
      answer,
      this.plan.requestId,
      this.plan.route.name,
      local ? undefined : this.backend.name,
    );
    const extra: Headers = {};
    if (this.plan.pipeline.answerHead.length > 0)
      runAnswerHeadStages(this.plan.pipeline, this, answer, extra);
    extra['x-request-id'] = this.plan.requestId;
    extra[this.host.backendHeader] = local ? GATEWAY_BACKEND : this.backend.name;
    this.closeIfUnread(extra);
    writeAnswer(this.res, answer, body, extra);
    this.finish(answer.status);
  }

  /** Answers the client with a response the cache kept: no upstream call. */
  private serveStored(stored: StoredResponse): void {
    this.status = stored.status;
    this.local = true;
    const headers = stored.headers;
    headers[this.host.backendHeader] = stored.backend;
    headers['x-request-id'] = this.plan.requestId;
    this.closeIfUnread(headers);
    this.res.writeHead(stored.status, headers);
    this.res.end(this.plan.method === 'HEAD' ? undefined : stored.body);
    this.finish(stored.status);
  }

  /**
   * A client still uploading a body nobody will read (answered early, e.g. 504 or 413)
   * gets `connection: close`, and Node closes the socket once the answer is out instead
   * of keeping it open to swallow the rest. While draining, keep-alive clients are asked
   * to reconnect (to another replica) the same way.
   */
  private closeIfUnread(headers: Headers): void {
    if (this.host.draining || (this.body !== null && !this.req.complete)) {
      headers.connection = 'close';
      this.res.shouldKeepAlive = false;
    }
  }

  clientGone(): void {
    if (this.done) return;
    clearTimeout(this.retryTimer);
    // Finish first: cancelling may report the attempt's end synchronously, and that
    // report must find the exchange over rather than answer a client that is gone.
    this.finish(0);
    this.attempt?.cancel();
  }

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.status = status;
    this.totalMs = performance.now() - this.started;
    const series = this.local ? this.plan.route.localSeries() : this.backend.series;
    series.request(this.plan.method, status, this.totalMs / 1000);
    if (!this.local)
      series.transferred(
        this.upstreamMs === undefined ? undefined : this.upstreamMs / 1000,
        this.bytesIn,
        this.bytesOut,
      );
    const share = this.plan.route.share;
    if (share !== undefined && status !== 0 && !this.local) {
      share.total += 1;
      if (!this.backend.monolith) share.toNew += 1;
    }
    if (this.plan.pipeline.done.length > 0) runDoneStages(this.plan.pipeline, this, this);
    this.trace?.end(
      status,
      this.local ? GATEWAY_BACKEND : this.backendName,
      this.failure,
      this.local,
    );
    this.host.finished(this);
  }
}
