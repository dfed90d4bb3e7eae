// The gateway's server: accepts connections with stated limits, swaps configs atomically,
// plans each request (plan.ts) and hands it to an Exchange (HTTP) or the websocket proxy,
// and drains on shutdown. Routing decisions live in plan.ts, policies in the pipeline's
// stages, retry and fallback in retry.ts; this file only wires them to sockets.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { RouteTable } from '../api/index.js';
import type { Readiness } from '../common/admin-server.js';
import { errorFields, type Logger } from '../common/logger.js';
import { close as closeServer, listen } from '../common/net.js';
import { answerBody, writeAnswer, writeRawAnswer } from './answer.js';
import { SecretStore } from './secret-store.js';
import { CacheRegistry } from './cache/registry.js';
import type { ProxyEngine, UpstreamError, UpstreamPool } from './engine.js';
import { UndiciEngine } from './engine-undici.js';
import { ErrorLogLimiter } from './error-log.js';
import { Exchange, type ExchangeHost } from './exchange.js';
import { GrpcChannels } from './grpc/channels.js';
import {
  GatewayMetrics,
  GATEWAY_BACKEND,
  routePolicies,
  UNMATCHED_ROUTE,
  type BackendSeries,
} from './metrics.js';
import { runDoneStages, type Answer } from './pipeline.js';
import { planRequest, type AnswerPlan, type RequestHead } from './plan.js';
import { RateLimits, type RedisSettings } from './rate-limits.js';
import { buildRuntime, type Runtime } from './runtime.js';
import { DEFAULT_SHADOW_IN_FLIGHT, ShadowRegistry } from './shadow/registry.js';
import { GatewayTracing } from './tracing.js';
import { requestId, type Headers } from './transforms.js';
import { isWebsocketUpgrade, WebsocketProxy } from './websocket.js';

/**
 * Connection limits, stated rather than inherited from Node's defaults. For comparison:
 * nginx client_header_timeout 60 s, client_body_timeout 60 s (between reads),
 * keepalive_timeout 75 s, send_timeout 60 s, large_client_header_buffers 4×8k; Envoy
 * request_headers_timeout off, stream_idle_timeout 5 min, idle_timeout 1 h,
 * max_request_headers_kb 60.
 */
export interface ConnectionLimits {
  /** The whole request head must arrive within this (slow heads get 408). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (else 408). */
  requestTimeoutMs: number;
  /**
   * Idle keep-alive connections are closed after this. Longer than the usual load
   * balancer idle timeout (60 s), so the balancer, not the gateway, closes idle
   * connections and never sends on one the gateway just closed.
   */
  keepAliveTimeoutMs: number;
  /** A client that stops reading a response is cut after this (nginx send_timeout). */
  sendTimeoutMs: number;
  /** Largest request head in bytes; larger heads get 431. */
  maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 75_000,
  sendTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
};

export interface GatewayOptions {
  logger: Logger;
  /** Where access log lines go (spec.gateway.accessLog); default: logger. */
  accessLogger?: Logger;
  engine?: ProxyEngine;
  /** Also export Node process metrics (default true). */
  defaultMetrics?: boolean;
  /** Most upstream-error log lines per second; the rest are counted and summarised. */
  errorLogsPerSecond?: number;
  limits?: Partial<ConnectionLimits>;
  /** Most shadow comparisons in flight at once (memory: up to 4 × maxBodyBytes each). */
  shadowInFlight?: number;
  /** The Redis of shared rate limits; without it they are kept per replica. */
  redis?: RedisSettings;
  /** Where the api-key and jwt stages find what Secrets hold; default: an empty store. */
  secrets?: SecretStore;
}

export type ApplyResult = 'success' | 'unchanged';

/** A server socket as Node's clientError hands it over: with the response in progress, if any. */
type ClientSocket = Duplex & { _httpMessage?: ServerResponse | null };

/** Node's parser errors and the status a client that can still read gets for them. */
function clientErrorStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

export class Gateway implements ExchangeHost {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  readonly engine: ProxyEngine;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly shadows: ShadowRegistry;
  readonly caches: CacheRegistry;
  /** What the Secrets the config names hold; filled by a source (secret-source.ts). */
  readonly secrets: SecretStore;
  /** OpenTelemetry spans while the route table asks for them (spec.gateway.tracing). */
  readonly tracing: GatewayTracing;
  draining = false;
  private runtime: Runtime | undefined;
  private inFlight = 0;
  private drainWaiter: (() => void) | undefined;
  private readonly websockets: WebsocketProxy;
  private readonly accessLogger: Logger;
  private readonly noConfigSeries: BackendSeries;
  private readonly errorLog: ErrorLogLimiter;
  private readonly rateLimits: RateLimits;
  private readonly grpcChannels = new GrpcChannels();

  constructor(options: GatewayOptions) {
    this.logger = options.logger;
    this.accessLogger = options.accessLogger ?? options.logger;
    this.engine = options.engine ?? new UndiciEngine();
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.secrets = options.secrets ?? new SecretStore();
    this.errorLog = new ErrorLogLimiter(this.logger, options.errorLogsPerSecond ?? 20);
    this.websockets = new WebsocketProxy(this.logger);
    this.metrics = new GatewayMetrics({
      inFlight: () => this.inFlight,
      websockets: () => this.websockets.openTunnels,
      defaultMetrics: options.defaultMetrics ?? true,
    });
    this.noConfigSeries = this.metrics.series(UNMATCHED_ROUTE, 'none');
    this.tracing = new GatewayTracing(this.metrics.traceSpansDropped, (message, error) => {
      this.logger.warn(message, errorFields(error));
    });
    this.shadows = new ShadowRegistry(
      this.engine,
      this.metrics,
      options.shadowInFlight ?? DEFAULT_SHADOW_IN_FLIGHT,
    );
    this.caches = new CacheRegistry(this.engine, this.metrics);
    this.rateLimits = new RateLimits({
      logger: this.logger,
      metrics: this.metrics,
      ...(options.redis !== undefined && { redis: options.redis }),
    });
    const limits = this.limits;
    this.server = createServer(
      {
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // Node's default, stated: the socket closes this long after the Keep-Alive timeout it
        // advertises, so a client that reuses a connection at the last moment is not reset.
        keepAliveTimeoutBuffer: 1000,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        maxHeaderSize: limits.maxHeaderBytes,
        // Node checks the two timeouts above on this interval (default 30 s).
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
        // Only websocket handshakes become upgrades; any other Upgrade (h2c from
        // `curl --http2`, or an unknown protocol) is served as a plain request, with
        // the Upgrade header dropped as the hop-by-hop header it is.
        shouldUpgradeCallback: isWebsocketUpgrade,
      },
      (req, res) => {
        this.onRequest(req, res);
      },
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(req, socket, head);
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: ClientSocket) => {
      // Malformed requests, oversized or slow heads and uploads: answer when the socket can
      // still take it. A request timeout can strike after its answer has begun (a slow
      // upload, a streaming upstream); a status line written then would land inside that
      // answer's body, so the connection is cut instead, as Node's own handler does.
      if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
        socket.destroy();
        return;
      }
      writeRawAnswer(socket, clientErrorStatus(err.code));
    });
  }

  get sendTimeoutMs(): number {
    return this.limits.sendTimeoutMs;
  }

  get backendHeader(): string {
    return this.runtime?.backendHeader ?? 'x-figway-backend';
  }

  /** The config in use, if any. */
  get table(): RouteTable | undefined {
    return this.runtime?.table;
  }

  get hash(): string | undefined {
    return this.runtime?.hash;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Applies a new config atomically: requests already running finish on the config they
   * started with, every request after this call uses the new one. Pools of backends that
   * stay are kept; pools of backends that left close once their requests are done.
   */
  applyTable(table: RouteTable, served: RouteTable = table): ApplyResult {
    // The hash the operator wrote (status.configHash), not one recomputed here: a newer
    // operator may write fields this gateway does not know, and local --resolve
    // overrides change the URLs served but not the config.
    const hash = table.hash;
    const previous = this.runtime;
    if (previous?.hash === hash) {
      this.metrics.reloads.labels({ result: 'unchanged' }).inc();
      this.logger.debug('config unchanged', { hash });
      return 'unchanged';
    }
    this.shadows.beginConfig();
    this.grpcChannels.beginConfig();
    this.caches.beginConfig();
    const next = buildRuntime(
      served,
      hash,
      this.engine,
      this.metrics,
      previous?.pools ?? new Map(),
      {
        logger: this.logger,
        accessLogger: this.accessLogger,
        shadows: this.shadows,
        caches: this.caches,
        rateLimits: this.rateLimits,
        secrets: this.secrets,
        grpcChannels: this.grpcChannels,
      },
    );
    this.rateLimits.configApplied();
    this.tracing.configure(table);
    this.runtime = next;
    this.shadows.commitConfig();
    this.grpcChannels.commitConfig();
    this.caches.commitConfig();
    this.metrics.configApplied(
      hash,
      next.routes.map((r) => ({
        name: r.name,
        share: r.share as NonNullable<typeof r.share>,
        backends: r.backendNames,
      })),
      routePolicies(table),
    );
    if (previous !== undefined) this.closeUnusedPools(previous.pools, next.pools);
    this.logger.info('config applied', {
      hash,
      previousHash: previous?.hash,
      source: `${table.source.namespace}/${table.source.name}`,
      generation: table.source.generation,
      routes: next.routes.map((r) => ({
        name: r.name,
        newServicePercent: r.split.newWeight,
        stages: r.pipeline.names,
      })),
      monolith: served.monolith.url,
    });
    return 'success';
  }

  /** Records a config that failed to load; the config in use keeps serving. */
  rejectConfig(error: Error): void {
    this.metrics.reloads.labels({ result: 'invalid' }).inc();
    const fieldErrors = (error as Error & { fieldErrors?: unknown }).fieldErrors;
    this.logger.error('config rejected, keeping the config in use', {
      ...errorFields(error),
      ...(Array.isArray(fieldErrors) && fieldErrors.length > 0 && { fieldErrors }),
      hashInUse: this.runtime?.hash,
    });
  }

  private closeUnusedPools(
    before: ReadonlyMap<string, UpstreamPool>,
    after: ReadonlyMap<string, UpstreamPool>,
  ): void {
    for (const [origin, pool] of before) {
      if (after.get(origin) === pool) continue;
      pool.close().catch((err: unknown) => {
        this.logger.warn('closing an unused upstream pool failed', { origin, ...errorFields(err) });
      });
    }
  }

  readiness(): Readiness {
    const runtime = this.runtime;
    if (this.draining)
      return { ready: false, details: { reason: 'draining', configHash: runtime?.hash } };
    if (runtime === undefined) return { ready: false, details: { reason: 'no config loaded yet' } };
    return {
      ready: true,
      details: {
        configHash: runtime.hash,
        source: `${runtime.table.source.namespace}/${runtime.table.source.name}`,
        routes: runtime.routes.length,
      },
    };
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    return listen(this.server, port, host);
  }

  private head(req: IncomingMessage): RequestHead {
    const socket = req.socket as Socket & { encrypted?: boolean };
    return {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      peer: socket.remoteAddress ?? '',
      encrypted: socket.encrypted === true,
      requestId: requestId(req.headers['x-request-id']),
      random: Math.random(),
    };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight += 1;
    const runtime = this.runtime;
    if (runtime === undefined) {
      this.answerWithoutConfig(req, res, requestId(req.headers['x-request-id']));
      return;
    }
    const head = this.head(req);
    const plan = planRequest(runtime, head);
    if (plan.kind === 'answer') {
      this.refuse(runtime, req, res, plan, head.requestId);
      return;
    }
    new Exchange(this, plan, req, res).start();
  }

  /** Answers a request the plan refused (400) or answers itself (OPTIONS *). */
  private refuse(
    runtime: Runtime,
    req: IncomingMessage,
    res: ServerResponse,
    plan: AnswerPlan,
    id: string,
  ): void {
    const started = performance.now();
    const extra: Headers = { 'x-request-id': id, [runtime.backendHeader]: GATEWAY_BACKEND };
    // The body of a refused request is never read: close rather than swallow it.
    if (!req.complete) {
      extra.connection = 'close';
      res.shouldKeepAlive = false;
    }
    writeAnswer(res, plan, answerBody(plan, id), extra);
    const seconds = (performance.now() - started) / 1000;
    runtime.unmatched.localSeries().request(req.method ?? 'GET', plan.status, seconds);
    if (runtime.unmatched.pipeline.done.length > 0)
      this.logRefusal(runtime, req, plan, id, seconds);
    this.inFlight -= 1;
    this.checkDrained();
  }

  /** Refusals have no route and no normalised path; the access log still hears of them. */
  private logRefusal(
    runtime: Runtime,
    req: IncomingMessage,
    answer: Answer,
    id: string,
    seconds: number,
  ): void {
    const route = runtime.unmatched;
    const plan = {
      kind: 'proxy' as const,
      method: req.method ?? 'GET',
      requestId: id,
      route,
      pipeline: route.pipeline,
      backend: route.monolith,
      // The raw target, cut short: it was refused, so no normal form exists.
      path: (req.url ?? '').slice(0, 200),
      query: '',
      forwardTarget: '',
      headers: {},
      clientAddress: req.socket.remoteAddress ?? '',
      host: req.headers.host ?? '',
      random: 0,
    };
    runDoneStages(
      route.pipeline,
      { plan, req, upstreamHeaders: {}, backend: route.monolith },
      {
        status: answer.status,
        backendName: GATEWAY_BACKEND,
        retries: 0,
        fellBack: false,
        bytesIn: 0,
        bytesOut: 0,
        upstreamMs: undefined,
        totalMs: seconds * 1000,
        local: true,
        failure: undefined,
      },
    );
  }

  private answerWithoutConfig(req: IncomingMessage, res: ServerResponse, id: string): void {
    const started = performance.now();
    const answer = { status: 503, reason: 'no-backend', message: 'no route table loaded yet' };
    writeAnswer(res, answer, answerBody(answer, id), { 'x-request-id': id });
    this.inFlight -= 1;
    this.noConfigSeries.request(req.method ?? 'GET', 503, (performance.now() - started) / 1000);
    this.checkDrained();
  }

  /** Called once per exchange when it is over. */
  finished(): void {
    this.inFlight -= 1;
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.inFlight === 0 && this.drainWaiter !== undefined) this.drainWaiter();
  }

  logUpstreamError(exchange: Exchange, error: UpstreamError): void {
    this.errorLog.warn('upstream error', {
      requestId: exchange.plan.requestId,
      route: exchange.plan.route.name,
      backend: exchange.backend.name,
      method: exchange.plan.method,
      reason: error.reason,
      retries: exchange.retries,
      ...errorFields(error),
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const runtime = this.runtime;
    if (runtime === undefined || this.draining) {
      writeRawAnswer(socket, 503);
      return;
    }
    const plan = planRequest(runtime, this.head(req));
    if (plan.kind === 'answer') {
      writeRawAnswer(socket, plan.status, answerBody(plan, plan.reason));
      return;
    }
    this.websockets.handle(plan, req, socket, head);
  }

  /**
   * Graceful stop: unready, stop accepting, let in-flight requests finish until the
   * deadline, then cut what is left. Resolves true when everything finished in time.
   */
  async shutdown(deadlineMs: number): Promise<boolean> {
    this.draining = true;
    const closed = closeServer(this.server);
    // Idle keep-alive connections carry no request: close them now, the rest get
    // `connection: close` on their response.
    this.server.closeIdleConnections();
    let drained = this.inFlight === 0;
    if (!drained) {
      drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.drainWaiter = undefined;
          resolve(false);
        }, deadlineMs);
        this.drainWaiter = () => {
          clearTimeout(timer);
          this.drainWaiter = undefined;
          resolve(true);
        };
      });
    }
    this.server.closeAllConnections();
    this.websockets.closeAll();
    this.shadows.abandonAll();
    this.grpcChannels.closeAll();
    await closed;
    const pools = this.runtime?.pools ?? new Map<string, UpstreamPool>();
    await Promise.allSettled([...pools.values()].map((p) => p.close()));
    await this.rateLimits.close();
    await this.tracing.shutdown();
    return drained;
  }
}
