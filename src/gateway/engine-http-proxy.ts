// The http-proxy-3 engine: ProxyServer.web with an explicit keep-alive http.Agent per
// backend origin and selfHandleResponse, so the gateway still decides on each response
// head (retry, fallback, headers). Kept to measure against the undici engine
// (bench/gateway.ts); http-proxy-3 also proxies the gateway's websockets (proxy.ts).
import {
  Agent as HttpAgent,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import {
  classifyError,
  UpstreamError,
  type AttemptSink,
  type Cancel,
  type ProxyEngine,
  type UpstreamPool,
  type UpstreamRequest,
} from './engine.js';

class AgentPool implements UpstreamPool {
  active = 0;
  private closing: (() => void) | undefined;
  constructor(
    readonly target: URL,
    readonly agent: HttpAgent,
  ) {}

  release(): void {
    this.active -= 1;
    if (this.active === 0 && this.closing) this.closing();
  }

  close(): Promise<void> {
    // agent.destroy() would cut requests still running on the old config: wait for them.
    return new Promise((resolve) => {
      this.closing = () => {
        this.agent.destroy();
        resolve();
      };
      if (this.active === 0) this.closing();
    });
  }
}

const ATTEMPT = Symbol('figway.hp3.attempt');
type Tracked = ServerResponse & { [ATTEMPT]?: Attempt };

function onTimeout(attempt: Attempt): void {
  attempt.fail(new UpstreamError('timeout', 'no response head in time'));
}

class Attempt implements Cancel {
  proxyReq: ClientRequest | undefined;
  accepted = false;
  finished = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pool: AgentPool,
    readonly res: Tracked,
    readonly sink: AttemptSink,
    timeoutMs: number,
  ) {
    pool.active += 1;
    this.timer = setTimeout(onTimeout, timeoutMs, this);
  }

  cancel(): void {
    this.fail(new UpstreamError('cancelled', 'attempt cancelled'));
  }

  head(proxyRes: IncomingMessage): void {
    if (this.finished) {
      proxyRes.resume();
      return;
    }
    clearTimeout(this.timer);
    if (!this.sink.onHead(proxyRes.statusCode ?? 502, proxyRes.headers)) {
      this.finished = true;
      this.pool.release();
      proxyRes.resume();
      return;
    }
    this.accepted = true;
    proxyRes.on('error', (err) => {
      this.fail(classifyError(err, true));
    });
    proxyRes.on('end', () => {
      if (this.finished) return;
      this.finished = true;
      this.pool.release();
      this.res.end();
      this.sink.onEnd(undefined);
    });
    proxyRes.pipe(this.res, { end: false });
  }

  fail(error: UpstreamError): void {
    clearTimeout(this.timer);
    if (this.finished) return;
    this.finished = true;
    this.pool.release();
    this.proxyReq?.destroy();
    this.sink.onEnd(error);
  }
}

export class HttpProxy3Engine implements ProxyEngine {
  readonly name = 'http-proxy-3';
  private readonly proxy: ProxyServer;

  constructor() {
    this.proxy = new ProxyServer({ selfHandleResponse: true, prependPath: false, xfwd: false });
    this.proxy.on('proxyReq', (proxyReq, _req, res) => {
      const attempt = (res as Tracked)[ATTEMPT];
      if (attempt === undefined) return;
      attempt.proxyReq = proxyReq;
      // The attempt timed out or was cancelled while waiting for a socket: do not send it.
      if (attempt.finished) proxyReq.destroy();
    });
    this.proxy.on('proxyRes', (proxyRes, _req, res) => {
      (res as Tracked)[ATTEMPT]?.head(proxyRes);
    });
  }

  createPool(origin: URL): UpstreamPool {
    const options = {
      keepAlive: true,
      maxSockets: 256,
      maxFreeSockets: 256,
      keepAliveMsecs: 30_000,
    };
    const agent = origin.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    return new AgentPool(new URL(origin.origin), agent);
  }

  send(
    pool: UpstreamPool,
    request: UpstreamRequest,
    res: ServerResponse,
    sink: AttemptSink,
  ): Cancel {
    if (!(pool instanceof AgentPool)) throw new TypeError('pool was created by another engine');
    const agentPool = pool;
    const attempt = new Attempt(agentPool, res, sink, request.timeoutMs);
    (res as Tracked)[ATTEMPT] = attempt;
    // http-proxy-3 takes method, path and headers from the incoming message: hand it a
    // view of this attempt, with an empty body stream when there is none to send (the
    // client's, already ended, would never end the upstream request on a retry).
    const req = Object.create(res.req) as IncomingMessage;
    req.url = request.path;
    req.headers = request.headers;
    this.proxy.web(
      req,
      res,
      {
        target: agentPool.target,
        agent: agentPool.agent,
        ...(request.body === null && { buffer: Readable.from([]) }),
      },
      (err) => {
        attempt.fail(classifyError(err, attempt.accepted));
      },
    );
    return attempt;
  }
}
