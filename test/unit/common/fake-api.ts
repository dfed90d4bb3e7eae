// A scripted stand-in for the Kubernetes list and watch endpoints, on 127.0.0.1, for unit
// tests of watch recovery (common/watch.ts and what stands on it: 410 Gone, dropped
// connections, silent watches) that a real API server cannot be made to produce on cue.
// Behaviour on a real server is covered in test/integration.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface RecordedRequest {
  path: string;
  query: URLSearchParams;
}

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  /** Open watch streams, newest last. */
  readonly watches: ServerResponse[] = [];
  /** What the next list returns. */
  listBody: unknown = { kind: 'List', metadata: { resourceVersion: '1' }, items: [] };
  /** Status code for the next lists (then 200). */
  failLists: number[] = [];
  /** Status code for the next watch requests (then 200 and a stream). */
  failWatches: number[] = [];
  /** How many of the next watch requests get no response at all. */
  unansweredWatches = 0;
  private server: Server | undefined;
  private waiters: (() => void)[] = [];

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => {
      this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => {
      if (this.server)
        this.server.close(() => {
          resolve();
        });
      else resolve();
    });
  }

  /** Sends one watch event on the newest open watch. */
  send(type: string, object: unknown): void {
    const watch = this.watches.at(-1);
    if (!watch) throw new Error('no open watch');
    watch.write(`${JSON.stringify({ type, object })}\n`);
  }

  /** Writes raw bytes on the newest open watch (a partial or malformed line). */
  write(text: string): void {
    const watch = this.watches.at(-1);
    if (!watch) throw new Error('no open watch');
    watch.write(text);
  }

  /** Ends the newest watch abruptly (a dropped connection). */
  dropWatch(): void {
    this.watches.at(-1)?.destroy();
  }

  /** Ends the newest watch cleanly (the server's timeoutSeconds elapsed). */
  endWatch(): void {
    this.watches.at(-1)?.end();
  }

  watchRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.query.get('watch') === 'true');
  }

  listRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.query.get('watch') !== 'true');
  }

  /** Resolves when the number of recorded requests reaches `count`, or rejects after a bound. */
  async waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `expected ${count} requests, got ${this.requests.length}: ${this.describe()}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  describe(): string {
    return this.requests.map((r) => `${r.path}?${r.query.toString()}`).join(', ');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({ path: url.pathname, query: url.searchParams });
    for (const w of this.waiters.splice(0)) w();
    if (url.searchParams.get('watch') === 'true') {
      if (this.unansweredWatches > 0) {
        this.unansweredWatches -= 1;
        this.watches.push(res);
        return;
      }
      const status = this.failWatches.shift();
      if (status !== undefined) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: status, message: 'injected failure' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.watches.push(res);
      return;
    }
    const fail = this.failLists.shift();
    if (fail !== undefined) {
      res.writeHead(fail, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: fail, message: 'injected failure' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.listBody));
  }
}
