// spec.routes[].compose: the gateway answers the request itself from several upstream
// calls (parts) sent in parallel, with the headers the request stages prepared for the
// upstream (request id, X-Forwarded-*, traceparent, claims-to-headers, requestHeaders),
// through the route's own backends, pools and retry policy. compose.ts decides what each
// answer is worth and what the client gets; this file only sends, times and counts.
import { performance } from 'node:perf_hooks';
import {
  COMPOSE_METHODS,
  MAX_PART_BODY_BYTES,
  type CompiledCompose,
} from '../../api/compose-schema.js';
import { fillParameters } from '../../api/path-template.js';
import type { CounterSeries, HistogramSeries } from '../../common/metrics.js';
import {
  assembleAnswer,
  failureBody,
  judgePartAnswer,
  partHeaders,
  requiredFailure,
  type ComposedAnswer,
  type PartResult,
} from '../compose.js';
import type {
  Cancel,
  CaptureFailure,
  CaptureRequest,
  CaptureSink,
  ProxyEngine,
} from '../engine.js';
import type { Headers } from '../transforms.js';
import { compilePathParameters } from '../matcher.js';
import type { GatewayMetrics } from '../metrics.js';
import {
  stageAnswerHeaders,
  type Answer,
  type StageBuilder,
  type StageContext,
} from '../pipeline.js';
import { startChildSpan, type EndSpan } from '../tracing.js';
import { afterFailure, afterHead, type AttemptState, type RetryPolicy } from '../retry.js';
import type { RuntimeBackend } from '../runtime.js';

/**
 * One attempt of a part: the single place a part goes upstream, so a tracing span can wrap
 * each attempt here.
 */
export function sendPartAttempt(
  engine: ProxyEngine,
  backend: RuntimeBackend,
  request: CaptureRequest,
  sink: CaptureSink,
): Cancel {
  return engine.capture(backend.pool, request, sink);
}

/** A part as a route's stage runs it, resolved once per config. */
interface StagePart {
  readonly config: CompiledCompose['parts'][number];
  /** Index of the part's backend in the route's backends (runtime and table alike). */
  readonly backendIndex: number;
  readonly duration: HistogramSeries<string>;
  /** Result counters, made on first use. */
  readonly results: Map<string, CounterSeries<string>>;
}

/** What every request of a composed route shares. */
interface ComposeRoute {
  readonly name: string;
  readonly compose: CompiledCompose;
  readonly parts: readonly StagePart[];
  readonly parameters: (matchedPath: string) => Readonly<Record<string, string>>;
  readonly engine: ProxyEngine;
  readonly metrics: GatewayMetrics;
  readonly policy: RetryPolicy;
  readonly perTryTimeoutMs: number;
  readonly routeTimeoutMs: number;
}

function onRetryTimer(call: PartCall): void {
  call.attempt();
}

/** One part of one request: its attempts, retries and deadline. */
class PartCall implements CaptureSink, AttemptState {
  retries = 0;
  readonly fellBack = false;
  readonly replayable = true;
  readonly onMonolith: boolean;
  private readonly started = performance.now();
  private readonly deadline: number;
  private readonly headers: Headers;
  private readonly path: string;
  private handle: Cancel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  /** Ends the current attempt's client span (tracing on and sampled), else does nothing. */
  private endSpan: EndSpan | undefined;

  constructor(
    private readonly route: ComposeRoute,
    private readonly part: StagePart,
    private readonly backend: RuntimeBackend,
    private readonly composition: Composition,
    private readonly index: number,
    upstreamHeaders: Headers,
    values: Readonly<Record<string, string>>,
    private readonly trace: StageContext['trace'],
  ) {
    this.onMonolith = backend.monolith;
    // The schema keeps a part's timeout within the route's: the deadline of the whole.
    this.deadline = this.started + Math.min(part.config.timeoutMs, route.routeTimeoutMs);
    this.headers = partHeaders(upstreamHeaders, backend.host);
    this.path = backend.basePath + fillParameters(part.config.path, values);
  }

  get remainingMs(): number {
    return this.deadline - performance.now();
  }

  attempt(): void {
    this.timer = undefined;
    const remaining = this.remainingMs;
    if (remaining <= 0) {
      this.end({ ok: false, reason: 'timeout' });
      return;
    }
    // Each attempt is a client span under the request's server span, retries marked as the
    // exchange marks them; its traceparent goes upstream in the part's own headers.
    this.endSpan = startChildSpan(
      this.trace,
      `GET ${this.backend.name}`,
      this.backend,
      this.headers,
      {
        'figway.compose.part': this.part.config.name,
        ...(this.retries > 0 && {
          'figway.retry': true,
          'http.request.resend_count': this.retries,
        }),
      },
    );
    this.handle = sendPartAttempt(
      this.route.engine,
      this.backend,
      {
        method: 'GET',
        path: this.path,
        headers: this.headers,
        body: null,
        timeoutMs: Math.min(this.route.perTryTimeoutMs, remaining),
        maxBodyBytes: MAX_PART_BODY_BYTES,
      },
      this,
    );
  }

  onCaptured(status: number, headers: Headers, body: Buffer): void {
    this.handle = undefined;
    this.endSpan?.(status);
    if (this.settled) return;
    const decision = afterHead(this.route.policy, this, status, Math.random());
    if (decision.action === 'retry') this.retry(decision.delayMs);
    else this.end(judgePartAnswer(status, headers, body));
  }

  onCaptureFailed(reason: CaptureFailure): void {
    this.handle = undefined;
    this.endSpan?.(undefined, reason);
    if (this.settled) return;
    if (reason !== 'too-large' && reason !== 'cancelled') {
      this.backend.series.upstreamError(reason);
      const decision = afterFailure(this.route.policy, this, reason, false, Math.random());
      if (decision.action === 'retry') {
        this.retry(decision.delayMs);
        return;
      }
    }
    this.end({ ok: false, reason });
  }

  /** Ends the part unanswered (another part failed the request, or the client left). */
  cancel(): void {
    if (this.settled) return;
    clearTimeout(this.timer);
    const handle = this.handle;
    this.end({ ok: false, reason: 'cancelled' });
    if (handle !== undefined) this.endSpan?.(undefined, 'cancelled');
    handle?.cancel();
  }

  private retry(delayMs: number): void {
    this.retries += 1;
    this.backend.series.retries.inc();
    this.timer = setTimeout(onRetryTimer, delayMs, this);
  }

  private end(result: PartResult): void {
    this.settled = true;
    const part = this.part;
    const label = result.ok ? 'ok' : result.reason;
    let counter = part.results.get(label);
    if (counter === undefined) {
      counter = this.route.metrics.composePartRequests.labels({
        route: this.route.name,
        part: part.config.name,
        result: label,
      });
      part.results.set(label, counter);
    }
    counter.inc();
    part.duration.observe((performance.now() - this.started) / 1000);
    this.composition.settle(this.index, result);
  }
}

/** The parts of one request, and the answer once they decide it. */
class Composition {
  private readonly results: (PartResult | undefined)[];
  private readonly calls: PartCall[] = [];
  private pending: number;
  private done = false;
  private resolve: ((answer: Answer) => void) | undefined;
  private readonly ctx: StageContext;
  private readonly onClientClose = (): void => {
    this.finish(undefined);
  };

  constructor(
    private readonly route: ComposeRoute,
    ctx: StageContext,
  ) {
    this.ctx = ctx;
    this.results = route.parts.map(() => undefined);
    this.pending = route.parts.length;
  }

  run(): Promise<Answer> {
    return new Promise<Answer>((resolve) => {
      this.resolve = resolve;
      const ctx = this.ctx;
      const values = this.route.parameters(ctx.plan.path);
      const backends = ctx.plan.route.backends;
      this.route.parts.forEach((part, index) => {
        const backend = backends[part.backendIndex] as RuntimeBackend;
        this.calls.push(
          new PartCall(
            this.route,
            part,
            backend,
            this,
            index,
            ctx.upstreamHeaders,
            values,
            ctx.trace,
          ),
        );
      });
      // A client that left during an earlier (asynchronous) stage gets no parts sent.
      if (ctx.req.socket.destroyed) {
        this.finish(undefined);
        return;
      }
      ctx.req.socket.once('close', this.onClientClose);
      for (const call of this.calls) {
        if (this.done) break;
        call.attempt();
      }
    });
  }

  settle(index: number, result: PartResult): void {
    if (this.done) return;
    this.results[index] = result;
    const refused = requiredFailure(this.route.compose.parts[index] as StagePart['config'], result);
    if (refused !== undefined) this.finish(refused);
    else if ((this.pending -= 1) === 0)
      this.finish(assembleAnswer(this.route.compose, this.results as PartResult[]));
  }

  /** Answers (undefined: the client is gone, nobody reads it) and cancels what still runs. */
  private finish(composed: ComposedAnswer | undefined): void {
    if (this.done) return;
    this.done = true;
    this.ctx.req.socket.off('close', this.onClientClose);
    for (const call of this.calls) call.cancel();
    (this.resolve as (answer: Answer) => void)(this.answer(composed));
  }

  private answer(composed: ComposedAnswer | undefined): Answer {
    if (composed === undefined) return CLIENT_GONE;
    // The composed answer is this route's response: its response-head stages (cors,
    // responseHeaders) shape it as they would an upstream's.
    const ctx = this.ctx;
    const headers = stageAnswerHeaders(ctx, composed.status);
    if (composed.status === 200)
      return { status: 200, reason: 'composed', message: '', headers, body: composed.body };
    return {
      status: 502,
      reason: 'compose-part-failed',
      message: composed.message,
      headers,
      body: failureBody(composed, ctx.plan.requestId, this.route.name),
    };
  }
}

/** What the exchange is handed when its client left: it is over by then and writes nothing. */
const CLIENT_GONE: Answer = { status: 499, reason: 'client-gone', message: 'client went away' };

const METHOD_NOT_ALLOWED: Answer = {
  status: 405,
  reason: 'method-not-allowed',
  message: `a composed route answers ${COMPOSE_METHODS.join(' and ')} only`,
  headers: { allow: COMPOSE_METHODS.join(', ') },
};

const NO_UPGRADE: Answer = {
  status: 400,
  reason: 'no-upgrade',
  message: 'a composed route answers plain GET and HEAD requests, not upgrades',
};

/**
 * Drops the series of parts a route no longer has. Routes that leave the config are
 * dropped with all their series (metrics.ts configApplied); parts within a route are not.
 */
function dropGoneParts(metrics: GatewayMetrics, route: string, parts: ReadonlySet<string>): void {
  for (const family of [metrics.composePartRequests, metrics.composePartDuration]) {
    for (const labels of family.labelSets()) {
      if (labels.route === route && !parts.has(labels.part))
        family.removeMatching({ route, part: labels.part });
    }
  }
}

export const composeStage: StageBuilder = (route, services) => {
  const compose = route?.compose;
  if (route === undefined || compose === undefined) return undefined;
  dropGoneParts(services.metrics, route.name, new Set(compose.parts.map((p) => p.name)));
  const parts = compose.parts.map((config): StagePart => {
    const backendIndex = route.backends.findIndex(
      (b) => b.name === config.backend && b.monolith === config.monolith,
    );
    if (backendIndex < 0)
      throw new Error(
        `route ${route.name}: compose part ${config.name} names backend ${JSON.stringify(config.backend)}, which the route does not list`,
      );
    return {
      config,
      backendIndex,
      duration: services.metrics.composePartDuration.labels({
        route: route.name,
        part: config.name,
      }),
      results: new Map(),
    };
  });
  const composeRoute: ComposeRoute = {
    name: route.name,
    compose,
    parts,
    parameters: compilePathParameters(route.match.path),
    engine: services.engine,
    metrics: services.metrics,
    // A part is a GET without a body: always replayable. Fallback is the split's, not a part's.
    policy: {
      attempts: route.retries.attempts,
      retryOn: new Set(route.retries.on),
      fallbackToMonolith: false,
    },
    perTryTimeoutMs: route.retries.perTryTimeoutMs,
    routeTimeoutMs: route.timeoutMs,
  };
  const methods: ReadonlySet<string> = new Set(COMPOSE_METHODS);
  return {
    name: 'compose',
    onRequest(ctx) {
      if (!methods.has(ctx.plan.method)) return METHOD_NOT_ALLOWED;
      // Only HTTP exchanges tap bodies: a websocket upgrade has no JSON answer to compose.
      if (ctx.tapBodies === undefined) return NO_UPGRADE;
      return new Composition(composeRoute, ctx).run();
    },
  };
};
