// The admin port every Figway process serves: liveness, readiness and Prometheus metrics,
// and the extra pages a process adds (the gateway's /shadow).
// Kept apart from the traffic port so probes and scrapes never queue behind user traffic
// and /metrics is never exposed through the gateway itself.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { close, listen } from './net.js';

export interface Readiness {
  ready: boolean;
  /** Shown in the /readyz body, e.g. the config hash in use or why it is not ready. */
  details?: Record<string, unknown>;
}

/** An extra path of the admin port (GET and HEAD), e.g. the gateway's /shadow. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface AdminServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Called for each /readyz; must be cheap. */
  readiness: () => Readiness;
  /** Called for each /healthz; a live process that cannot serve should say so. Defaults to live. */
  liveness?: () => Readiness;
  /** More paths, by exact path; they must answer cheaply. */
  handlers?: Readonly<Record<string, AdminHandler>>;
  /** Paths that take POST (the gateway's /cache/purge); each checks its own authorisation. */
  postHandlers?: Readonly<Record<string, AdminHandler>>;
}

export interface AdminServer {
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  indent?: number,
): void {
  const text = `${JSON.stringify(body, null, indent)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function handle(options: AdminServerOptions, req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? '/').split('?', 1)[0];
  const post = options.postHandlers?.[path ?? ''];
  if (post !== undefined && req.method === 'POST') {
    post(req, res);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  switch (path) {
    case '/healthz': {
      const live = options.liveness?.() ?? { ready: true };
      sendJson(res, live.ready ? 200 : 503, {
        status: live.ready ? 'ok' : 'failing',
        ...live.details,
      });
      return;
    }
    case '/readyz': {
      const ready = options.readiness();
      sendJson(res, ready.ready ? 200 : 503, {
        status: ready.ready ? 'ready' : 'not ready',
        ...ready.details,
      });
      return;
    }
    case '/metrics': {
      const text = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType });
      res.end(text);
      return;
    }
    default: {
      const handler = options.handlers?.[path ?? ''];
      if (handler !== undefined) {
        handler(req, res);
        return;
      }
      sendJson(res, 404, {
        error: 'not found',
        paths: ['/healthz', '/readyz', '/metrics', ...Object.keys(options.handlers ?? {})],
      });
    }
  }
}

/** Starts the admin server; resolves once it listens. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: (error as Error).message });
      else res.destroy();
    });
  });
  const port = await listen(server, options.port, options.host ?? '0.0.0.0');
  return {
    port,
    server,
    async close() {
      server.closeAllConnections();
      await close(server);
    },
  };
}
