// Real servers and clients on 127.0.0.1 for the gateway's integration tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../../src/common/logger.js';
import { close, listen } from '../../../src/common/net.js';
import { FileConfigSource } from '../../../src/gateway/config-source.js';
import { StaticSecretSource } from '../../../src/gateway/secret-source.js';
import { SecretStore } from '../../../src/gateway/secret-store.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/command.js';
import type { RedisSettings } from '../../../src/gateway/rate-limits.js';
import type { ConnectionLimits } from '../../../src/gateway/server.js';

export interface Upstream {
  name: string;
  port: number;
  url: string;
  server: Server;
  /** Requests received, most recent last. */
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, upstream: Upstream) => void;

/** Answers JSON naming itself and echoing what it received. */
export const echo: Handler = (req, res, upstream) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({
      servedBy: upstream.name,
      method: req.method,
      url: req.url,
      headers: req.headers,
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-upstream': upstream.name,
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
    });
    res.end(body);
  });
};

export async function startUpstream(name: string, handler: Handler = echo): Promise<Upstream> {
  const upstream: Upstream = {
    name,
    port: 0,
    url: '',
    server: createServer(),
    seen: [],
    async close() {
      upstream.server.closeAllConnections();
      await close(upstream.server);
    },
  };
  upstream.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    upstream.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, upstream);
  });
  upstream.port = await listen(upstream.server, 0, '127.0.0.1');
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  return upstream;
}

/** A TCP server that accepts connections and never answers: an upstream that hangs. */
export interface SilentUpstream {
  url: string;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections still open. */
  open: Set<Socket>;
  close(): Promise<void>;
}

export async function startSilentUpstream(): Promise<SilentUpstream> {
  const server = createTcpServer();
  const upstream: SilentUpstream = {
    url: '',
    accepted: 0,
    open: new Set(),
    async close() {
      for (const socket of upstream.open) socket.destroy();
      await close(server);
    },
  };
  server.on('connection', (socket: Socket) => {
    upstream.accepted += 1;
    upstream.open.add(socket);
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      upstream.open.delete(socket);
    });
  });
  upstream.url = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  return upstream;
}

/** A port nothing listens on: bind, read the port, close. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, 0, '127.0.0.1');
  await close(server);
  return port;
}

export interface TestGateway extends RunningGateway {
  url: string;
  adminUrl: string;
  configFile: string;
  writeConfig(yaml: string): void;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Where the gateway's log lines go; silent when absent. */
  logStream?: NodeJS.WritableStream;
  /** Where access log lines go; with the other log lines when absent. */
  accessLogStream?: NodeJS.WritableStream;
  /** Short limits keep tests of timeouts fast. */
  limits?: Partial<ConnectionLimits>;
  /** The gateway's cap of shadow comparisons in flight. */
  shadowInFlight?: number;
  /** The Redis of shared rate limits. */
  redis?: RedisSettings;
  /** Secrets as `figway gateway --api-keys-file` takes them: secret name → key → value. */
  secrets?: Record<string, Record<string, string>>;
}

/** A gateway serving `yaml` from a watched temp file, with Service names resolved locally. */
export async function startTestGateway(
  yaml: string,
  resolve: Record<string, string>,
  options: TestGatewayOptions = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'figway-gw-'));
  const configFile = join(dir, 'apiroute.yaml');
  writeFileSync(configFile, yaml);
  const { logStream, accessLogStream, limits, redis, shadowInFlight } = options;
  const logger = createLogger({
    component: 'gateway',
    ...(logStream !== undefined ? { stream: logStream } : { silent: true }),
  });
  const secrets = new SecretStore();
  let secretSource: StaticSecretSource | undefined;
  if (options.secrets !== undefined) {
    const secretsFile = join(dir, 'secrets.yaml');
    writeFileSync(secretsFile, JSON.stringify(options.secrets));
    secretSource = await StaticSecretSource.load(secretsFile, secrets, (error) => {
      logger.error('a Secret was not applied', { error: error.message });
    });
  }
  const running = await startGateway({
    source: new FileConfigSource(configFile, { debounceMs: 20 }),
    secrets,
    ...(secretSource !== undefined && { secretSource }),
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    overrides: new Map(Object.entries(resolve)),
    logger,
    ...(accessLogStream !== undefined && {
      accessLogger: createLogger({ component: 'gateway', stream: accessLogStream }),
    }),
    ...(limits !== undefined && { limits }),
    ...(shadowInFlight !== undefined && { shadowInFlight }),
    ...(redis !== undefined && { redis }),
    fixedLogLevel: true,
  });
  return {
    ...running,
    url: `http://127.0.0.1:${running.port}`,
    adminUrl: `http://127.0.0.1:${running.admin.port}`,
    configFile,
    writeConfig(text: string) {
      writeFileSync(configFile, text);
    },
    async close() {
      await running.stop(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Client connections the gateway's server holds open. */
export function connectionsOf(gw: TestGateway): Promise<number> {
  return new Promise((resolve, reject) => {
    gw.gateway.server.getConnections((error, count) => {
      if (error) reject(error);
      else resolve(count);
    });
  });
}

/**
 * A TCP client that writes exactly what a test says and records what comes back, for
 * requests no well-behaved HTTP client would send (trickled heads, stalled bodies).
 */
export class RawClient {
  received = '';
  /** Set when the peer ended its side (FIN) or the connection closed. */
  ended = false;
  closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.closed = true;
      this.notify();
    });
    // A reset after the answer is a way of closing, which `closed` records.
    socket.on('error', () => undefined);
  }

  /** `allowHalfOpen`: stay open after the gateway's FIN, as a client that never closes does. */
  static connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', ...options });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** The status of the first response, once its status line arrived. */
  async status(timeoutMs = 3000): Promise<number> {
    await this.until(() => /^HTTP\/1\.1 \d{3} /.test(this.received), timeoutMs, 'a status line');
    return Number(this.received.slice(9, 12));
  }

  /** Resolves once the gateway ended or closed the connection. */
  async end(timeoutMs = 3000): Promise<void> {
    await this.until(() => this.ended, timeoutMs, 'the connection to end');
  }

  until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`waited ${timeoutMs} ms for ${what}; received: ${this.received.slice(0, 300)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  // A test states the shape it expects of the body it reads.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = Record<string, unknown>>(): T;
}

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request; resolves with the whole (small) reply. */
export function send(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: Agent | false;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? keepAlive,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
            json<T>() {
              return JSON.parse(body) as T;
            },
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The value of one sample in a Prometheus text exposition, or undefined. */
export function sample(metricsText: string, series: string): number | undefined {
  for (const line of metricsText.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

export async function metricsOf(gw: TestGateway): Promise<string> {
  return (await send(`${gw.adminUrl}/metrics`)).body;
}

/** Waits until `check` passes or the time is up (then throws its last error). */
export async function eventually(
  check: () => void | Promise<void>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** An ApiRoute with the monolith as Service legacy:8080 and the given routes. */
export function apiRoute(routes: string, extra = ''): string {
  return `apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: shop, namespace: test }
spec:
  monolith: { service: legacy, port: 8080 }
${extra}  routes:
${routes}`;
}

/** Collects JSON log lines written to it. */
export class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

/** A `figway` CLI child process running from source, with its JSON log lines collected. */
export interface CliProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stdout: () => string;
  /** Resolves with the first log line that passes `test`. */
  waitForLine(
    test: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export function spawnCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let partial = '';
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.startsWith('{')) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    }
    for (const w of [...waiters]) w();
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      resolve(code);
    });
  });
  return {
    child,
    lines,
    stdout: () => `${out}${err === '' ? '' : `\n[stderr]\n${err}`}`,
    exited,
    waitForLine(test, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(test);
          if (found !== undefined) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${out}\n${err}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
  };
}
