// OpenTelemetry tracing of the gateway (spec.gateway.tracing, compiled into the route table):
// a server span per proxied request, a client span per upstream attempt (retries and the
// fallback each their own; shadow copies marked figway.shadow), W3C traceparent/tracestate
// extracted from the client (or a new trace started) and injected into every upstream call,
// spans exported over OTLP/HTTP by a batch processor with a bounded queue.
//
// Why explicit spans at the gateway's own request and attempt points rather than
// @opentelemetry/instrumentation-http/-undici: the product is an esbuild bundle, where the
// require hooks of instrumentation-http patch nothing; instrumentation-undici (diagnostics
// channels) would work, but it sees single undici requests, not what they mean: it cannot
// tell a retry from a fallback or a shadow copy, it parents spans through the active
// AsyncLocalStorage context (a context manager to install, and a context switch on every
// callback of every request, traced or not), and it would trace the OTLP exporter's own
// calls too. The exchange knows exactly when an attempt starts and ends and why, for the
// undici engine and any other engine alike, so the spans are opened there; when tracing is
// off no provider exists and a request pays one `undefined` check per hook.
import { hostname } from 'node:os';
import {
  createNoopMeter,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Meter,
  type MeterProvider,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import { OTLP_TRACES_PATH, type CompiledTracing, type RouteTable } from '../api/index.js';
import type { CounterSeries, FastCounter } from '../common/metrics.js';
import type { StageContext } from './pipeline.js';
import type { ProxyPlan } from './plan.js';
import type { Headers } from './transforms.js';

/**
 * Export limits. A collector that is down or slow fills the queue, and then spans are
 * dropped (and counted), never waited for: ending a span only ever pushes to an array.
 */
export const EXPORT_LIMITS = {
  /** Finished spans waiting for export; beyond it they are dropped (reason queue_full). */
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  /** A batch goes out at least this often. */
  scheduledDelayMillis: 1000,
  /** One export, retries included, gives up after this (reason export_failed). */
  exportTimeoutMillis: 5000,
} as const;

/** Longest a stopping gateway waits for its last spans to be exported. */
export const SHUTDOWN_FLUSH_MS = 2000;

/** The SDK's own count of processed spans; error.type marks the ones that were lost. */
const PROCESSED_SPANS = 'otel.sdk.processor.span.processed';
const QUEUE_FULL = 'queue_full';

export type DropReason = 'queue_full' | 'export_failed';

/** Marks the spans of shadow copies (the copy is the gateway's, not the client's). */
export const SHADOW_ATTRIBUTE = 'figway.shadow';

const propagator = new W3CTraceContextPropagator();

/** Ends a child span: with the status the upstream answered, or why it failed. */
export type EndSpan = (status: number | undefined, failure?: string) => void;

const END_NOTHING: EndSpan = () => undefined;

function hostAndPort(origin: string): Attributes {
  const url = new URL(origin);
  return {
    [ATTR_SERVER_ADDRESS]: url.hostname,
    [ATTR_SERVER_PORT]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
  };
}

function endClientSpan(span: Span, status: number | undefined, failure: string | undefined): void {
  if (status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (failure !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, failure);
    span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
  } else if (status !== undefined && status >= 500) {
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * What W3CTraceContextPropagator.inject writes, for a span context known to be valid and
 * not sampled, written here because it is on the path of the requests a sample leaves
 * out (99 in 100 at 1%): the propagator wants a Context built around the span first,
 * which costs as much again as the header itself.
 */
function injectUnsampled(context: SpanContext, headers: Headers): void {
  headers.traceparent = `00-${context.traceId}-${context.spanId}-00`;
  const state = context.traceState?.serialize();
  if (state !== undefined && state !== '') headers.tracestate = state;
}

/** The backend an attempt or copy goes to, as far as its span is concerned. */
export interface SpanTarget {
  readonly name: string;
  readonly origin: string;
}

/** One proxied request's server span and the client spans of its upstream calls. */
export class RequestTrace {
  private readonly server: Span;
  /** The server span as a parent; made only when a child span is (sampled traces). */
  private parent: Context | undefined;
  private attempt: Span | undefined;
  private attempts = 0;
  private lastBackend = '';

  constructor(
    private readonly tracer: Tracer,
    plan: ProxyPlan,
    headers: Headers,
  ) {
    const remote = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const route = plan.route;
    this.server = tracer.startSpan(
      `${plan.method} ${route.name}`,
      { kind: SpanKind.SERVER },
      remote,
    );
    // Attributes only on spans that are recorded: the 99% a 1% sample drops pay nothing.
    if (this.server.isRecording()) {
      this.server.setAttributes({
        [ATTR_HTTP_REQUEST_METHOD]: plan.method,
        [ATTR_URL_PATH]: plan.path,
        [ATTR_SERVER_ADDRESS]: plan.host,
        [ATTR_CLIENT_ADDRESS]: plan.clientAddress,
        'figway.route': route.name,
        'figway.request_id': plan.requestId,
        'figway.migration.weight': route.split.newWeight,
      });
    }
  }

  get traceId(): string {
    return this.server.spanContext().traceId;
  }

  get sampled(): boolean {
    return this.server.isRecording();
  }

  /**
   * Opens a client span under the server span and writes its traceparent (and the
   * caller's tracestate) into `headers`, so the upstream continues this trace. In a trace
   * that is not sampled there is no span to open: the upstream gets the server span's
   * context (sampled flag off) as its parent, which no one can tell from a child that is
   * never recorded either, and the request saves a span and a context per call.
   */
  child(
    name: string,
    target: SpanTarget,
    headers: Headers,
    attributes?: Attributes,
  ): Span | undefined {
    // A tracestate the client sent beside a traceparent it got wrong belongs to no trace.
    delete headers.tracestate;
    if (!this.server.isRecording()) {
      injectUnsampled(this.server.spanContext(), headers);
      return undefined;
    }
    this.parent ??= trace.setSpan(ROOT_CONTEXT, this.server);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT }, this.parent);
    span.setAttributes(hostAndPort(target.origin));
    span.setAttribute('figway.backend', target.name);
    if (attributes !== undefined) span.setAttributes(attributes);
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
    return span;
  }

  /** An upstream attempt starts; `fallback` when it goes to the monolith after a failure. */
  startAttempt(method: string, backend: SpanTarget, headers: Headers, fallback: boolean): void {
    if (!this.server.isRecording()) {
      this.child('', backend, headers);
      return;
    }
    this.attempts += 1;
    const retry = this.attempts > 1 && !fallback && backend.name === this.lastBackend;
    this.lastBackend = backend.name;
    const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method };
    if (this.attempts > 1) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = this.attempts - 1;
    if (retry) attributes['figway.retry'] = true;
    if (fallback) attributes['figway.fallback'] = true;
    this.attempt = this.child(`${method} ${backend.name}`, backend, headers, attributes);
  }

  /**
   * The attempt's response head arrived. A delivered head leaves the span open until the
   * body has streamed; a head that is retried or falls back ends it here.
   */
  attemptHead(status: number, delivered: boolean): void {
    const span = this.attempt;
    if (span === undefined) return;
    if (delivered) {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      return;
    }
    this.attempt = undefined;
    endClientSpan(span, status, undefined);
  }

  /** The attempt is over: its body delivered, or failed for `failure`. */
  endAttempt(failure: string | undefined): void {
    const span = this.attempt;
    if (span === undefined) return;
    this.attempt = undefined;
    endClientSpan(span, undefined, failure);
  }

  /** The request is over; `status` 0 when the client went away first. */
  end(status: number, backend: string, failure: string | undefined, local: boolean): void {
    this.endAttempt(status === 0 ? 'cancelled' : failure);
    const span = this.server;
    if (span.isRecording()) {
      span.setAttribute('figway.backend', backend);
      if (status !== 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      else span.setAttribute('figway.aborted', true);
      if (local) span.setAttribute('figway.local', true);
      if (failure !== undefined) span.setAttribute(ATTR_ERROR_TYPE, failure);
      if (status >= 500) {
        if (failure === undefined) span.setAttribute(ATTR_ERROR_TYPE, String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    span.end();
  }
}

/**
 * Opens a client span under a request's server span for a stage's own upstream call
 * (a shadow copy, a composed call, a gRPC call) and writes its traceparent into `headers`.
 * Returns the function that ends it; without tracing, a shared function that does nothing.
 */
export function startChildSpan(
  requestTrace: StageContext['trace'],
  name: string,
  target: SpanTarget,
  headers: Headers,
  attributes?: Attributes,
): EndSpan {
  if (requestTrace === undefined) return END_NOTHING;
  const span = requestTrace.child(name, target, headers, attributes);
  if (span === undefined) return END_NOTHING;
  return (status, failure) => {
    endClientSpan(span, status, failure);
  };
}

/**
 * A MeterProvider for the SDK's self-observability that turns its count of lost spans
 * into figway_gateway_trace_spans_dropped_total; every other instrument is a no-op. The
 * batch processor counts spans it drops on a full queue and spans whose export failed.
 */
function droppedSpansMeter(dropped: Record<DropReason, CounterSeries<'reason'>>): MeterProvider {
  const noop = createNoopMeter();
  const meter: Meter = Object.create(noop, {
    createCounter: {
      value: (name: string, options?: Parameters<Meter['createCounter']>[1]) => {
        if (name !== PROCESSED_SPANS) return noop.createCounter(name, options);
        return {
          add(value: number, attributes?: Attributes) {
            const error = attributes?.[ATTR_ERROR_TYPE];
            if (error === undefined) return;
            dropped[error === QUEUE_FULL ? 'queue_full' : 'export_failed'].inc(value);
          },
        };
      },
    },
  }) as Meter;
  return { getMeter: () => meter };
}

/** A tracer provider for one set of settings. */
interface ActiveTracing {
  readonly key: string;
  readonly provider: TracerProvider;
  readonly tracer: Tracer;
}

/**
 * The gateway's tracing across configs: a provider while the table asks for tracing,
 * none otherwise. A config that changes the settings gets a new provider; the old one
 * flushes what it holds in the background.
 */
export class GatewayTracing {
  private active: ActiveTracing | undefined;
  private readonly dropped: Record<DropReason, CounterSeries<'reason'>>;

  constructor(
    counter: FastCounter<'reason'>,
    private readonly onError: (message: string, error: unknown) => void,
  ) {
    this.dropped = {
      queue_full: counter.labels({ reason: 'queue_full' }),
      export_failed: counter.labels({ reason: 'export_failed' }),
    };
  }

  /** Starts the trace of a request, or undefined when tracing is off. */
  startRequest(plan: ProxyPlan, headers: Headers): RequestTrace | undefined {
    const active = this.active;
    return active === undefined ? undefined : new RequestTrace(active.tracer, plan, headers);
  }

  /** Follows a newly applied table's tracing settings. */
  configure(table: Pick<RouteTable, 'tracing' | 'source'>): void {
    const settings = table.tracing;
    const serviceName = `${table.source.name}-gateway`;
    const key =
      settings === undefined ? '' : `${settings.endpoint} ${settings.samplingRatio} ${serviceName}`;
    if (key === (this.active?.key ?? '')) return;
    this.retire();
    if (settings !== undefined) this.active = this.create(key, settings, table.source, serviceName);
  }

  private create(
    key: string,
    settings: CompiledTracing,
    source: RouteTable['source'],
    serviceName: string,
  ): ActiveTracing {
    const exporter = new OTLPTraceExporter({
      url: `${settings.endpoint}${OTLP_TRACES_PATH}`,
      timeoutMillis: EXPORT_LIMITS.exportTimeoutMillis,
    });
    const provider = new TracerProvider({
      sampler: new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(settings.samplingRatio),
      }),
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: serviceName,
        'service.namespace': source.namespace,
        [ATTR_SERVICE_INSTANCE_ID]: hostname(),
        'k8s.namespace.name': source.namespace,
      }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          ...EXPORT_LIMITS,
          selfObsMeterProvider: droppedSpansMeter(this.dropped),
        }),
      ],
    });
    return { key, provider, tracer: provider.getTracer('figway-gateway') };
  }

  private retire(): void {
    const active = this.active;
    if (active === undefined) return;
    this.active = undefined;
    active.provider.shutdown().catch((error: unknown) => {
      this.onError('flushing the spans of the previous tracing settings failed', error);
    });
  }

  /**
   * Exports what is queued and stops, waiting at most SHUTDOWN_FLUSH_MS: a collector that
   * hangs must not hold a terminating pod past its grace period.
   */
  async shutdown(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    if (active === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_FLUSH_MS);
      timer.unref();
    });
    try {
      await Promise.race([active.provider.shutdown(), deadline]);
    } catch (error) {
      this.onError('flushing spans at shutdown failed', error);
    } finally {
      clearTimeout(timer);
    }
  }
}
