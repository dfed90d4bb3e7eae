// The data plane: accepts client requests, picks a route and a backend from the config in
// use, and proxies through the engine with timeouts, retries and fallback to the monolith.
//
// Hot-path discipline (DESIGN.md): the config is prepared once per reload (runtime.ts);
// a request allocates one Exchange and one engine handler and no closures; metrics are
// plain number increments on series resolved per config; nothing is logged per request
// unless access logs are sampled in.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { RouteTable } from '../api/index.js';
import { routeTableHash } from '../api/index.js';
import type { Readiness } from '../common/admin-server.js';
import { errorFields, type Logger } from '../common/logger.js';
import { close as closeServer, listen } from '../common/net.js';
import {
  UpstreamError,
  type AttemptSink,
  type Cancel,
  type FailureReason,
  type ProxyEngine,
  type UpstreamPool,
} from './engine.js';
import { UndiciEngine } from './engine-undici.js';
import { splitTarget } from './matcher.js';
import { GatewayMetrics, UNMATCHED_ROUTE, type BackendSeries } from './metrics.js';
import { buildRuntime, type Runtime, type RuntimeBackend, type RuntimeRoute } from './runtime.js';
import { clientAddress, type TrustedProxies } from './forwarded.js';
import { hostOf } from './request-head.js';
import { cohortPoint, cookieValue, pickBackend } from './split.js';
import {
  clientResponseHeaders,
  hasBody,
  IDEMPOTENT,
  requestId,
  upstreamRequestHeaders,
  upstreamTarget,
  type Headers,
} from './transforms.js';

export interface GatewayOptions {
  logger: Logger;
  engine?: ProxyEngine;
  /** Fraction of requests written to the access log (0 = none, 1 = all). */
  accessLogSample?: number;
  /** Also export Node process metrics (default true). */
  defaultMetrics?: boolean;
  /** Most upstream-error log lines per second; the rest are counted and summarised. */
  errorLogsPerSecond?: number;
}

/** The status a failure reason is answered with. */
export function failureStatus(reason: FailureReason): number {
  switch (reason) {
    case 'timeout':
      return 504;
    case 'no-backend':
      return 503;
    default:
      return 502;
  }
}

/** The retry condition a failure reason counts as (retries.on). */
export function retryCondition(reason: FailureReason): string {
  return reason === 'connect-failure' ? 'connect-failure' : String(failureStatus(reason));
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

/** Backoff before retry n (1-based): 10 ms, 20 ms, 40 ms… with jitter, capped at 250 ms. */
export function retryBackoffMs(n: number): number {
  const base = Math.min(250, 10 * 2 ** (n - 1));
  return base / 2 + Math.random() * (base / 2);
}

/** One client request from arrival to the end of its response. */
class Exchange implements AttemptSink {
  readonly started = performance.now();
  deadline: number;
  backend: RuntimeBackend;
  status = 0;
  done = false;
  retries = 0;
  fellBack = false;
  attempt: Cancel | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  private readonly headers: Headers;
  private readonly replayable: boolean;
  private readonly body: IncomingMessage | null;

  constructor(
    private readonly gateway: Gateway,
    private readonly runtime: Runtime,
    readonly route: RuntimeRoute,
    backend: RuntimeBackend,
    readonly req: IncomingMessage,
    readonly res: TrackedResponse,
    readonly id: string,
    private readonly path: string,
    private readonly query: string,
  ) {
    this.backend = backend;
    this.deadline = this.started + route.timeoutMs;
    const bodyPresent = hasBody(req.headers);
    this.body = bodyPresent ? req : null;
    // Bodies are streamed, never buffered, so a request with one can be sent only once.
    this.replayable = !bodyPresent && IDEMPOTENT.has(req.method ?? '');
    const host = hostOf(req.rawHeaders);
    this.headers = upstreamRequestHeaders(
      req.headers,
      {
        peer: req.socket.remoteAddress ?? '',
        encrypted: (req.socket as Socket & { encrypted?: boolean }).encrypted === true,
        host: host.ok ? host.value : '',
        trusted: runtime.trustedProxies,
        requestId: id,
        upstreamHost: backend.host,
      },
      route.requestHeaders,
    );
    res[EXCHANGE] = this;
    res.once('close', onResponseClose);
  }

  send(): void {
    if (this.done) return;
    const backend = this.backend;
    const remaining = this.deadline - performance.now();
    if (remaining <= 0) {
      this.fail(new UpstreamError('timeout', 'route timeout spent before the attempt'), false);
      return;
    }
    this.headers.host = backend.host;
    this.attempt = this.gateway.engine.send(
      backend.pool,
      {
        method: this.req.method ?? 'GET',
        path: upstreamTarget(backend.basePath, this.route.rewrite, this.path, this.query),
        headers: this.headers,
        body: this.body,
        timeoutMs: Math.min(this.route.perTryTimeoutMs, remaining),
        idleTimeoutMs: this.route.timeoutMs,
      },
      this.res,
      this,
    );
  }

  onHead(status: number, headers: Headers): boolean {
    if (this.done) return false;
    if (status >= 502 && status <= 504) {
      const reason = String(status);
      if (this.canRetry(reason)) {
        this.retry();
        return false;
      }
      if (this.canFallback()) {
        this.fallback(`upstream answered ${status}`);
        return false;
      }
    }
    this.status = status;
    const out = clientResponseHeaders(
      headers,
      this.route.responseHeaders,
      this.runtime.backendHeader,
      this.backend.name,
      this.id,
    );
    // While draining, ask keep-alive clients to reconnect (to another replica).
    if (this.gateway.draining) out.connection = 'close';
    this.res.writeHead(status, out);
    return true;
  }

  onEnd(error: UpstreamError | undefined): void {
    this.attempt = undefined;
    if (this.done) return;
    if (error === undefined) {
      this.finish(this.status);
      return;
    }
    this.fail(error, true);
  }

  /** An attempt failed (or could not start): retry, fall back, or answer with an error. */
  private fail(error: UpstreamError, counted: boolean): void {
    const backend = this.backend;
    if (counted) backend.series.upstreamError(error.reason);
    if (error.reason === 'body' || this.res.headersSent) {
      // The client already has a head and part of a body: all we can do is cut it off.
      this.gateway.logUpstreamError(this, error);
      this.res.destroy(error);
      this.finish(this.status);
      return;
    }
    if (this.canRetry(retryCondition(error.reason))) {
      this.retry();
      return;
    }
    if (this.canFallback()) {
      this.gateway.logUpstreamError(this, error);
      this.fallback(error.message);
      return;
    }
    this.gateway.logUpstreamError(this, error);
    this.respondError(failureStatus(error.reason), error.reason, error.message);
  }

  private canRetry(condition: string): boolean {
    const route = this.route;
    return (
      this.replayable &&
      this.retries < route.attempts &&
      route.retryOn.has(condition as never) &&
      this.deadline - performance.now() > 1
    );
  }

  private retry(): void {
    this.retries += 1;
    this.backend.series.retries.inc();
    this.retryTimer = setTimeout(onRetryTimer, retryBackoffMs(this.retries), this);
  }

  private canFallback(): boolean {
    return (
      this.route.fallbackToMonolith && !this.fellBack && !this.backend.monolith && this.replayable
    );
  }

  private fallback(why: string): void {
    this.backend.series.fallbacks.inc();
    this.fellBack = true;
    this.backend = this.route.monolith;
    // The monolith gets a full route timeout of its own: the new service may have spent
    // all of the first one, and a fallback that cannot succeed is no fallback.
    this.deadline = performance.now() + this.route.timeoutMs;
    if (this.gateway.logger.isDebugEnabled()) {
      this.gateway.logger.debug('falling back to the monolith', {
        route: this.route.name,
        requestId: this.id,
        why,
      });
    }
    this.send();
  }

  respondError(status: number, reason: string, message: string): void {
    this.status = status;
    const body = `${JSON.stringify({ error: message, reason, requestId: this.id, route: this.route.name, backend: this.backend.name })}\n`;
    const headers: Headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-request-id': this.id,
      [this.runtime.backendHeader]: this.backend.name,
    };
    if (this.gateway.draining) headers.connection = 'close';
    this.res.writeHead(status, headers);
    this.res.end(body);
    this.finish(status);
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
    const seconds = (performance.now() - this.started) / 1000;
    this.backend.series.request(this.req.method ?? 'GET', status, seconds);
    const share = this.route.share;
    if (share !== undefined && status !== 0) {
      share.total += 1;
      if (!this.backend.monolith) share.toNew += 1;
    }
    this.gateway.finished(this, status, seconds);
  }
}

/** Which backend of a route serves this request: override header, cohort, or chance. */
export function chooseBackend(
  route: RuntimeRoute,
  req: IncomingMessage,
  trusted: TrustedProxies,
): RuntimeBackend {
  if (route.overrideHeader !== undefined) {
    const forced = req.headers[route.overrideHeader];
    if (typeof forced === 'string') {
      const index = route.overrides.get(forced.trim().toLowerCase());
      if (index !== undefined)
        return index < 0 ? route.monolith : (route.backends[index] as RuntimeBackend);
    }
  }
  const split = route.split;
  if (split.newWeight === 0) return route.monolith;
  let key: string | undefined;
  const cohort = route.cohort;
  if (cohort !== undefined) {
    if ('header' in cohort) {
      const value = req.headers[cohort.header];
      key = Array.isArray(value) ? value[0] : value;
    } else if ('cookie' in cohort) {
      key = cookieValue(req.headers.cookie, cohort.cookie);
    } else {
      key = clientAddress(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], trusted);
    }
  }
  // No key: split per request at random, so the weights still hold in aggregate.
  const point = key !== undefined && key !== '' ? cohortPoint(key) : Math.random() * 100;
  const index = pickBackend(split, point);
  return index < 0 ? route.monolith : (route.backends[index] as RuntimeBackend);
}

export type ApplyResult = 'success' | 'unchanged';

export class Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  readonly engine: ProxyEngine;
  readonly logger: Logger;
  draining = false;
  private runtime: Runtime | undefined;
  private inFlight = 0;
  private drainWaiter: (() => void) | undefined;
  private readonly sockets = new Set<Duplex>();
  private readonly wsProxy: ProxyServer;
  private readonly wsCounters = new WeakMap<IncomingMessage, (status: number) => void>();
  private readonly accessLogSample: number;
  private readonly noConfigSeries: BackendSeries;
  private readonly errorLogBudget: number;
  private errorLogWindow = 0;
  private errorLogsInWindow = 0;
  private errorLogsSuppressed = 0;

  constructor(options: GatewayOptions) {
    this.logger = options.logger;
    this.engine = options.engine ?? new UndiciEngine();
    this.accessLogSample = options.accessLogSample ?? 0;
    this.errorLogBudget = options.errorLogsPerSecond ?? 20;
    this.metrics = new GatewayMetrics({
      inFlight: () => this.inFlight,
      websockets: () => this.sockets.size,
      defaultMetrics: options.defaultMetrics ?? true,
    });
    this.noConfigSeries = this.metrics.series(UNMATCHED_ROUTE, 'none');
    this.server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
      this.onRequest(req, res);
    });
    // Longer than the usual load balancer idle timeout (60 s), so the balancer, not the
    // gateway, closes idle connections and never sends on one the gateway just closed.
    this.server.keepAliveTimeout = 75_000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(req, socket, head);
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Malformed requests and resets: answer 400 when the socket can still take it.
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    this.wsProxy = new ProxyServer({ ws: true, xfwd: true, changeOrigin: true });
    // One listener for all upgrades: the request says whose count it is.
    this.wsProxy.on('proxyReqWs', (proxyReq, req) => {
      const count = this.wsCounters.get(req);
      if (count === undefined) return;
      proxyReq.once('upgrade', () => {
        count(101);
      });
      proxyReq.once('response', (r: IncomingMessage) => {
        count(r.statusCode ?? 502);
      });
    });
    this.wsProxy.on('error', (err) => {
      this.logger.warn('websocket proxy error', errorFields(err));
    });
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
    // The hash is of the table as received, so it equals the operator's status.configHash
    // even when local --resolve overrides change the URLs actually served.
    const hash = routeTableHash(table);
    const previous = this.runtime;
    if (previous?.hash === hash) {
      this.metrics.reloads.labels({ result: 'unchanged' }).inc();
      this.logger.debug('config unchanged', { hash });
      return 'unchanged';
    }
    const next = buildRuntime(
      served,
      hash,
      this.engine,
      this.metrics,
      previous?.pools ?? new Map(),
    );
    this.runtime = next;
    this.metrics.configApplied(
      hash,
      next.routes.map((r) => ({
        name: r.name,
        share: r.share as NonNullable<typeof r.share>,
        backends: r.backendNames,
      })),
    );
    if (previous !== undefined) this.closeUnusedPools(previous.pools, next.pools);
    this.logger.info('config applied', {
      hash,
      previousHash: previous?.hash,
      source: `${table.source.namespace}/${table.source.name}`,
      generation: table.source.generation,
      routes: table.routes.map((r) => ({ name: r.name, newServicePercent: r.newServicePercent })),
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

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight += 1;
    const id = requestId(req.headers['x-request-id']);
    const runtime = this.runtime;
    const { path, query } = splitTarget(req.url ?? '/');
    if (runtime === undefined) {
      this.answerWithoutConfig(req, res, id);
      return;
    }
    const index = runtime.matcher.match({
      method: req.method ?? 'GET',
      path,
      query,
      headers: req.headers,
    });
    const route = index < 0 ? runtime.unmatched : (runtime.routes[index] as RuntimeRoute);
    const backend = chooseBackend(route, req, runtime.trustedProxies);
    new Exchange(this, runtime, route, backend, req, res, id, path, query).send();
  }

  private answerWithoutConfig(req: IncomingMessage, res: ServerResponse, id: string): void {
    const started = performance.now();
    const body = `${JSON.stringify({ error: 'no route table loaded yet', reason: 'no-backend', requestId: id })}\n`;
    res.writeHead(503, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': id,
    });
    res.end(body);
    this.inFlight -= 1;
    this.noConfigSeries.request(req.method ?? 'GET', 503, (performance.now() - started) / 1000);
    this.checkDrained();
  }

  /** Called once per exchange when it is over. */
  finished(exchange: Exchange, status: number, seconds: number): void {
    this.inFlight -= 1;
    if (this.accessLogSample > 0 && Math.random() < this.accessLogSample) {
      this.logger.info('request', {
        requestId: exchange.id,
        method: exchange.req.method,
        path: exchange.req.url,
        route: exchange.route.name,
        backend: exchange.backend.name,
        status,
        retries: exchange.retries,
        fallback: exchange.fellBack,
        ms: Math.round(seconds * 1e4) / 10,
      });
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.inFlight === 0 && this.drainWaiter !== undefined) this.drainWaiter();
  }

  /** One log line per failed attempt, at most errorLogsPerSecond; the rest are summarised. */
  logUpstreamError(exchange: Exchange, error: UpstreamError): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.errorLogWindow) {
      if (this.errorLogsSuppressed > 0) {
        this.logger.warn('upstream error log lines suppressed', {
          suppressed: this.errorLogsSuppressed,
        });
      }
      this.errorLogWindow = second;
      this.errorLogsInWindow = 0;
      this.errorLogsSuppressed = 0;
    }
    if (this.errorLogsInWindow >= this.errorLogBudget) {
      this.errorLogsSuppressed += 1;
      return;
    }
    this.errorLogsInWindow += 1;
    this.logger.warn('upstream error', {
      requestId: exchange.id,
      route: exchange.route.name,
      backend: exchange.backend.name,
      method: exchange.req.method,
      reason: error.reason,
      retries: exchange.retries,
      ...errorFields(error),
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {
      socket.destroy();
    });
    const runtime = this.runtime;
    if (runtime === undefined || this.draining) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
      );
      return;
    }
    const started = performance.now();
    const id = requestId(req.headers['x-request-id']);
    const { path, query } = splitTarget(req.url ?? '/');
    const index = runtime.matcher.match({
      method: req.method ?? 'GET',
      path,
      query,
      headers: req.headers,
    });
    const route = index < 0 ? runtime.unmatched : (runtime.routes[index] as RuntimeRoute);
    const backend = chooseBackend(route, req, runtime.trustedProxies);
    req.headers['x-request-id'] = id;
    if (route.requestHeaders !== undefined) {
      const headers = req.headers as Headers;
      for (const name of route.requestHeaders.remove) headers[name.toLowerCase()] = undefined;
      for (const [name, value] of Object.entries(route.requestHeaders.set))
        headers[name.toLowerCase()] = value;
      for (const [name, value] of Object.entries(route.requestHeaders.add)) {
        const existing = headers[name.toLowerCase()];
        headers[name.toLowerCase()] =
          existing === undefined ? value : [...[existing].flat(), value];
      }
    }
    // http-proxy-3 joins the target URL's path (the backend base path) with req.url.
    req.url = upstreamTarget('', route.rewrite, path, query);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    let counted = false;
    const count = (status: number) => {
      if (counted) return;
      counted = true;
      backend.series.request('GET', status, (performance.now() - started) / 1000);
    };
    this.wsCounters.set(req, count);
    this.wsProxy.ws(req, socket, head, { target: backend.url }, (err) => {
      const error = err as NodeJS.ErrnoException;
      const reason =
        error.code === 'ENOTFOUND' ? 'no-backend' : counted ? 'body' : 'connect-failure';
      backend.series.upstreamError(reason);
      if (!counted) {
        count(reason === 'no-backend' ? 503 : 502);
        if (socket.writable)
          socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      }
      socket.destroy();
      this.logger.warn('websocket upstream error', {
        requestId: id,
        route: route.name,
        backend: backend.name,
        reason,
        ...errorFields(err),
      });
    });
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
    for (const socket of this.sockets) socket.destroy();
    await closed;
    this.wsProxy.close();
    const pools = this.runtime?.pools ?? new Map<string, UpstreamPool>();
    await Promise.allSettled([...pools.values()].map((p) => p.close()));
    return drained;
  }
}
