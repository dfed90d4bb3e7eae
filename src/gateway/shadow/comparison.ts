// One shadowed request, from the moment the stage picks it to its result. It holds the
// bounded copies (the request body if any, the client's answer as it streams, and the
// answers of the copies sent on the gateway's own account), and once every part is in,
// compares them and records the result. Nothing here ever touches the client's answer:
// the tap only reads chunks the engine is writing anyway, and every failure of a copy
// ends in a counted result, never in an exception on the request's path.
import { performance } from 'node:perf_hooks';
import type { HistogramSeries } from '../../common/metrics.js';
import { BodyBuffer } from '../body-buffer.js';
import type {
  BodyTap,
  Cancel,
  CaptureFailure,
  CaptureSink,
  ProxyEngine,
  UpstreamPool,
} from '../engine.js';
import type { Outcome } from '../pipeline.js';
import { upstreamPath, type ProxyPlan } from '../plan.js';
import { SHADOW_ATTRIBUTE, startChildSpan, type EndSpan, type RequestTrace } from '../tracing.js';
import { applyHeaderModifier, type HeaderModifier, type Headers } from '../transforms.js';
import { compareResponses, type CapturedResponse, type CompareOptions } from './compare.js';
import { Differences } from './differences.js';
import type { RouteShadowStats } from './route-stats.js';

/** Marks every copy, so the new service can skip side effects and tell copies apart. */
export const SHADOW_HEADER = 'x-figway-shadow';

/** Where copies go: a backend bound to the pool kept for the gateway's own requests. */
export interface ShadowTarget {
  readonly name: string;
  readonly origin: string;
  readonly host: string;
  readonly basePath: string;
  readonly pool: UpstreamPool;
}

/** Everything a route's shadow needs, resolved once per config. */
export interface RouteShadow {
  readonly route: string;
  readonly reverse: boolean;
  readonly noiseCancellation: boolean;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  /** The new-service backend being judged. */
  readonly candidate: ShadowTarget;
  readonly monolith: ShadowTarget;
  readonly compare: CompareOptions;
  /** Headers kept of each answer: the compared ones and what decoding needs. */
  readonly keptHeaders: readonly string[];
  /** The route's response header modifier, applied to copies as to the client's answer. */
  readonly responseHeaders: HeaderModifier | undefined;
  readonly keepValues: boolean;
  readonly stats: RouteShadowStats;
  readonly candidateDuration: HistogramSeries<string>;
  readonly monolithDuration: HistogramSeries<string>;
}

/** What a comparison needs of the gateway: a way out, and its in-flight slot back. */
export interface ComparisonHost {
  readonly engine: ProxyEngine;
  release(comparison: ShadowComparison): void;
}

function keep(headers: Headers, names: readonly string[]): Headers {
  const out: Headers = {};
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** One copy sent on the gateway's own account: the candidate call or the second monolith call. */
class Copy implements CaptureSink {
  cancel: Cancel | undefined;
  endSpan: EndSpan | undefined;
  answer: CapturedResponse | undefined;
  failure: CaptureFailure | undefined;
  done = false;
  private readonly started = performance.now();

  constructor(
    private readonly comparison: ShadowComparison,
    private readonly duration: HistogramSeries<string>,
  ) {}

  onCaptured(status: number, headers: Headers, body: Buffer): void {
    this.duration.observe((performance.now() - this.started) / 1000);
    this.answer = { status, headers: this.comparison.keptHeadersOf(headers), body };
    this.endSpan?.(status);
    this.done = true;
    this.comparison.copyDone();
  }

  onCaptureFailed(reason: CaptureFailure): void {
    this.failure = reason;
    this.endSpan?.(undefined, reason);
    this.done = true;
    this.comparison.copyDone();
  }
}

export class ShadowComparison implements BodyTap {
  private readonly requestBody: BodyBuffer | null;
  private answerBody: BodyBuffer;
  private answerStatus = 0;
  private answerHeaders: Headers = {};
  private answerDone = false;
  private copies: Copy[] = [];
  private sent = false;
  private finished = false;

  constructor(
    private readonly host: ComparisonHost,
    private readonly shadow: RouteShadow,
    private readonly plan: ProxyPlan,
    /** The upstream headers as the request stages left them, copied. */
    private readonly headers: Headers,
    withBody: boolean,
    /** The client request's trace: each copy gets a span of its own under it. */
    private readonly trace: RequestTrace | undefined,
  ) {
    this.requestBody = withBody ? new BodyBuffer(shadow.maxBodyBytes) : null;
    this.answerBody = new BodyBuffer(shadow.maxBodyBytes);
  }

  /** Sends the copies now when there is no request body to wait for. */
  start(): void {
    if (this.requestBody === null) this.send();
  }

  // BodyTap: the engine's view of the exchange.
  requestChunk(chunk: Buffer): void {
    if (this.requestBody !== null && !this.finished && !this.requestBody.push(chunk))
      this.finish('skipped');
  }

  requestSent(): void {
    if (!this.sent && !this.finished) this.send();
  }

  responseChunk(chunk: Buffer): void {
    if (!this.finished && !this.answerBody.push(chunk)) this.finish('skipped');
  }

  /** The client's answer's head, after the route's response header changes. */
  responseHead(status: number, headers: Headers): void {
    this.answerStatus = status;
    this.answerHeaders = keep(headers, this.shadow.keptHeaders);
  }

  /** The client's exchange is over; its answer is comparable only if it came whole from the expected side. */
  exchangeDone(outcome: Outcome): void {
    if (this.finished) return;
    this.answerDone = true;
    const expected = this.shadow.reverse ? this.shadow.candidate.name : this.shadow.monolith.name;
    const whole =
      outcome.upstreamMs !== undefined &&
      !outcome.local &&
      outcome.backendName === expected &&
      this.answerStatus !== 0;
    // Not sent: the request body never went upstream whole, so no copy of it exists.
    if (!whole || !this.sent) this.finish('skipped');
    else this.compareWhenComplete();
  }

  copyDone(): void {
    this.compareWhenComplete();
  }

  /** A copy's headers as the client would have got them, the kept ones only. */
  keptHeadersOf(headers: Headers): Headers {
    // Only the kept names matter here; the modifier may set or remove one of them.
    const kept = keep(headers, this.shadow.keptHeaders);
    applyHeaderModifier(kept, this.shadow.responseHeaders);
    return kept;
  }

  /** Gives up without a result (the gateway is stopping). */
  abandon(): void {
    this.finish(undefined);
  }

  private send(): void {
    this.sent = true;
    const shadow = this.shadow;
    try {
      // Normal: the client got the monolith's answer, the candidate gets a copy. Reverse:
      // the client got the candidate's, the monolith gets the copy.
      const first = shadow.reverse ? shadow.monolith : shadow.candidate;
      this.copy(first, shadow.reverse ? shadow.monolithDuration : shadow.candidateDuration);
      if (shadow.noiseCancellation) this.copy(shadow.monolith, shadow.monolithDuration);
    } catch {
      // A copy that cannot even be sent (a pool closed by a reload) is a failed copy.
      this.finish('error');
    }
  }

  private copy(target: ShadowTarget, duration: HistogramSeries<string>): void {
    const copy = new Copy(this, duration);
    this.copies.push(copy);
    const headers: Headers = { ...this.headers, host: target.host, [SHADOW_HEADER]: '1' };
    copy.endSpan = startChildSpan(
      this.trace,
      `${this.plan.method} ${target.name}`,
      target,
      headers,
      {
        [SHADOW_ATTRIBUTE]: true,
      },
    );
    copy.cancel = this.host.engine.capture(
      target.pool,
      {
        method: this.plan.method,
        path: upstreamPath(this.plan, target),
        headers,
        body: this.requestBody === null ? null : this.requestBody.contents(),
        timeoutMs: this.shadow.timeoutMs,
        maxBodyBytes: this.shadow.maxBodyBytes,
      },
      copy,
    );
  }

  private compareWhenComplete(): void {
    if (this.finished || !this.answerDone) return;
    let failure: CaptureFailure | undefined;
    for (const copy of this.copies) {
      if (!copy.done) return;
      failure ??= copy.failure;
    }
    if (failure !== undefined) {
      this.finish(failure === 'too-large' ? 'skipped' : 'error');
      return;
    }
    const shadow = this.shadow;
    const answer: CapturedResponse = {
      status: this.answerStatus,
      headers: this.answerHeaders,
      body: this.answerBody.contents(),
    };
    const [first, second] = this.copies.map((c) => c.answer as CapturedResponse);
    const monolith = shadow.reverse ? (first as CapturedResponse) : answer;
    const candidate = shadow.reverse ? answer : (first as CapturedResponse);
    const differences = new Differences(shadow.keepValues);
    compareResponses(monolith, candidate, shadow.compare, differences);
    let noise: Differences | undefined;
    if (second !== undefined) {
      noise = new Differences(false);
      compareResponses(monolith, second, shadow.compare, noise);
    }
    shadow.stats.record(differences, noise);
    this.finish(undefined);
  }

  /** Ends the comparison: copies still running are cancelled, the slot is given back. */
  private finish(result: 'error' | 'skipped' | undefined): void {
    if (this.finished) return;
    this.finished = true;
    for (const copy of this.copies) if (!copy.done) copy.cancel?.cancel();
    this.copies = [];
    this.answerBody = EMPTY;
    if (result !== undefined) this.shadow.stats.count(result);
    this.host.release(this);
  }
}

/** What a finished comparison keeps of the answer: nothing. */
const EMPTY = new BodyBuffer(0);
