// Websocket upgrades: the same plan and request stages as any request, then a tunnel
// through http-proxy-3's ws pass. What it adds to that pass:
// - the handshake is timed: an upstream that never answers gets 504 at the route timeout;
// - a client that leaves mid-handshake destroys the upstream request, freeing its socket
//   (the pass cleans up only after a completed upgrade, and Node's half-open server
//   sockets do not close on a FIN by themselves);
// - `figway_gateway_websockets_open` counts tunnels that are open, not handshakes.
// Only `Upgrade: websocket` on GET reaches this module (server.ts's shouldUpgrade); other
// upgrades, such as the h2c that `curl --http2` asks for, are served as plain requests.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import { errorFields, type Logger } from '../common/logger.js';
import { answerBody, writeRawAnswer } from './answer.js';
import { failureStatus } from './retry.js';
import {
  runDoneStages,
  runRequestStages,
  type Answer,
  type Outcome,
  type StageContext,
} from './pipeline.js';
import type { ProxyPlan } from './plan.js';
import type { RateLimitDecision } from './rate-limits.js';
import type { RuntimeBackend } from './runtime.js';
import type { Headers } from './transforms.js';

/** Whether a request asks for an upgrade this gateway tunnels: a websocket handshake. */
export function isWebsocketUpgrade(req: Pick<IncomingMessage, 'method' | 'headers'>): boolean {
  const upgrade = req.headers.upgrade;
  return (
    req.method === 'GET' && typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket'
  );
}

function onHandshakeTimeout(tunnel: Tunnel): void {
  tunnel.timedOut();
}

function onClientClose(this: Duplex & { [TUNNEL]?: Tunnel }): void {
  this[TUNNEL]?.clientClosed();
}

/**
 * The client sent its FIN before the upgrade completed. Node's server sockets allow half-open
 * connections, so without this the socket (and the upstream request) would stay until the
 * route timeout. The socket keeps reading into its buffer after the 'upgrade' event, so
 * 'end' comes as soon as the FIN does, unless the client sent bytes before the 101 (RFC 6455
 * forbids it); those stay buffered for the tunnel's pipe, and the route timeout ends that case.
 */
function onHandshakeEnd(this: Duplex): void {
  this.destroy();
}

const TUNNEL = Symbol('figway.tunnel');

/** One upgrade from its plan until its sockets close. */
class Tunnel implements StageContext, Outcome {
  readonly started = performance.now();
  readonly upstreamHeaders: Headers;
  proxyReq: ClientRequest | undefined;
  /** Set by the api-key stage (StageContext). */
  consumer: string | undefined = undefined;
  /** Set by the rate-limit stage (StageContext). */
  rateLimit: RateLimitDecision | undefined = undefined;
  /** The plan's, or the claim-cohort stage's choice (StageContext). */
  backend: RuntimeBackend;
  status = 0;
  open = false;
  failure: string | undefined;
  upstreamMs: number | undefined;
  totalMs = 0;
  local = false;
  readonly retries = 0;
  readonly fellBack = false;
  private counted = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly bytesReadAtStart: number;
  private readonly bytesWrittenAtStart: number;

  constructor(
    private readonly proxy: WebsocketProxy,
    readonly plan: ProxyPlan,
    readonly req: IncomingMessage,
    readonly socket: Duplex & { [TUNNEL]?: Tunnel },
    private readonly head: Buffer,
  ) {
    this.upstreamHeaders = plan.headers;
    this.backend = plan.backend;
    // The head buffer: bytes after the handshake that Node read along with it.
    this.bytesReadAtStart = req.socket.bytesRead - head.length;
    this.bytesWrittenAtStart = req.socket.bytesWritten;
    socket[TUNNEL] = this;
    socket.once('close', onClientClose);
    socket.once('end', onHandshakeEnd);
  }

  get backendName(): string {
    return this.backend.name;
  }
  get bytesIn(): number {
    return this.req.socket.bytesRead - this.bytesReadAtStart;
  }
  get bytesOut(): number {
    return this.req.socket.bytesWritten - this.bytesWrittenAtStart;
  }

  start(): void {
    if (this.plan.pipeline.request.length === 0) {
      this.connect();
      return;
    }
    runRequestStages(this.plan.pipeline, this, (answer) => {
      if (this.counted) return;
      if (answer === undefined) this.connect();
      else this.answer(answer, true);
    });
  }

  private connect(): void {
    const backend = this.backend;
    const headers = this.upstreamHeaders;
    // The plan drops hop-by-hop headers; an upgrade needs exactly these two back.
    headers.connection = 'upgrade';
    headers.upgrade = 'websocket';
    headers.host = backend.host;
    this.req.headers = headers;
    // http-proxy-3 joins the target URL's path (the backend base path) with req.url.
    this.req.url = this.plan.forwardTarget;
    this.timer = setTimeout(onHandshakeTimeout, this.plan.route.timeoutMs, this);
    this.proxy.tunnel(this, this.head);
  }

  /** The upstream accepted the upgrade: the tunnel is open. */
  opened(): void {
    clearTimeout(this.timer);
    // A half-close is the tunnel's pipe's to relay from now on.
    this.socket.off('end', onHandshakeEnd);
    this.open = true;
    this.upstreamMs = performance.now() - this.started;
    this.proxy.openTunnels += 1;
    this.count(101);
  }

  /** The upstream answered without upgrading; http-proxy-3 relays that answer. */
  refused(status: number): void {
    clearTimeout(this.timer);
    this.count(status);
  }

  timedOut(): void {
    this.timer = undefined;
    if (this.open || this.counted) return;
    this.fail('timeout', 'no upgrade answer within the route timeout');
  }

  /** The transport failed (connect, reset, our own timeout's destroy). */
  upstreamFailed(error: NodeJS.ErrnoException): void {
    clearTimeout(this.timer);
    if (this.open) {
      this.failure = 'body';
      this.backend.series.upstreamError('body');
      return;
    }
    if (this.counted) return;
    const reason = error.code === 'ENOTFOUND' ? 'no-backend' : 'connect-failure';
    this.fail(reason, error.message);
  }

  private fail(reason: 'timeout' | 'no-backend' | 'connect-failure', message: string): void {
    this.failure = reason;
    this.backend.series.upstreamError(reason);
    this.proxy.logger.warn('websocket upstream error', {
      requestId: this.plan.requestId,
      route: this.plan.route.name,
      backend: this.backend.name,
      reason,
      error: message,
    });
    this.answer({ status: failureStatus(reason), reason, message }, false);
    this.proxyReq?.destroy();
  }

  answer(answer: Answer, local: boolean): void {
    this.local = local;
    this.count(answer.status);
    writeRawAnswer(
      this.socket,
      answer.status,
      answerBody(answer, this.plan.requestId, this.plan.route.name),
    );
  }

  clientClosed(): void {
    clearTimeout(this.timer);
    // Before the upgrade completed, the pass still holds the upstream request: free it.
    if (this.open) this.proxy.openTunnels -= 1;
    else this.proxyReq?.destroy();
    this.proxy.tunnels.delete(this);
    this.count(0);
    this.totalMs = performance.now() - this.started;
    if (this.plan.pipeline.done.length > 0) runDoneStages(this.plan.pipeline, this, this);
  }

  private count(status: number): void {
    if (this.counted) return;
    this.counted = true;
    this.status = status;
    const series = this.local ? this.plan.route.localSeries() : this.backend.series;
    series.request('GET', status, (performance.now() - this.started) / 1000);
  }
}

export class WebsocketProxy {
  /** Every upgrade from its start until its client socket closes, for shutdown. */
  readonly tunnels = new Set<Tunnel>();
  /** Upgrades the upstream accepted and whose client is still there (the gauge). */
  openTunnels = 0;
  private readonly proxy: ProxyServer;
  private readonly byRequest = new WeakMap<IncomingMessage, Tunnel>();

  constructor(readonly logger: Logger) {
    // X-Forwarded-* and Host come from the plan, under the trust model: the pass must not
    // add its own.
    this.proxy = new ProxyServer({ ws: true, xfwd: false, changeOrigin: false });
    this.proxy.on('proxyReqWs', (proxyReq, req) => {
      const tunnel = this.byRequest.get(req);
      if (tunnel === undefined) return;
      tunnel.proxyReq = proxyReq;
      proxyReq.once('upgrade', () => {
        tunnel.opened();
      });
      proxyReq.once('response', (res: IncomingMessage) => {
        tunnel.refused(res.statusCode ?? 502);
      });
    });
    this.proxy.on('error', (err) => {
      this.logger.warn('websocket proxy error', errorFields(err));
    });
  }

  /** Starts an upgrade whose plan is made; answers on the socket when it cannot proceed. */
  handle(plan: ProxyPlan, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {
      socket.destroy();
    });
    const tunnel = new Tunnel(this, plan, req, socket, head);
    this.tunnels.add(tunnel);
    tunnel.start();
  }

  tunnel(tunnel: Tunnel, head: Buffer): void {
    this.byRequest.set(tunnel.req, tunnel);
    this.proxy.ws(tunnel.req, tunnel.socket, head, { target: tunnel.backend.url }, (err) => {
      tunnel.upstreamFailed(err);
    });
  }

  /** Cuts every tunnel, open or still in its handshake (shutdown). */
  closeAll(): void {
    for (const tunnel of this.tunnels) tunnel.socket.destroy();
    this.proxy.close();
  }
}
