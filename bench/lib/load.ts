// Steady HTTP load for the control-plane benchmarks: requests at a fixed rate over a
// keep-alive pool, each response handed to a callback the moment its headers arrive.
// Bounded in count and in time; a request that would exceed the in-flight cap is skipped
// and counted, so a stalled gateway shows up instead of silently lowering the rate.
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  url: string;
  /** Requests per second. */
  rate: number;
  maxInFlight: number;
  maxRequests: number;
  maxDurationMs: number;
  timeoutMs?: number;
  onResponse(at: number, res: http.IncomingMessage): void;
}

export interface LoadStats {
  sent: number;
  ok: number;
  /** Non-2xx answers, by status. */
  badStatus: Map<number, number>;
  /** Connection errors and timeouts, by message. */
  errors: Map<string, number>;
  /** Requests not sent because maxInFlight requests were outstanding. */
  skipped: number;
  /** ms from sending each request to its response headers (answered requests only). */
  latencies: number[];
  durationMs: number;
}

export class LoadLoop {
  readonly stats: LoadStats = {
    sent: 0,
    ok: 0,
    badStatus: new Map(),
    errors: new Map(),
    skipped: 0,
    latencies: [],
    durationMs: 0,
  };
  private readonly agent: http.Agent;
  private readonly url: URL;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = 0;
  private finish: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(private readonly options: LoadOptions) {
    this.url = new URL(options.url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxInFlight });
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  get failed(): number {
    let n = 0;
    for (const c of this.stats.badStatus.values()) n += c;
    for (const c of this.stats.errors.values()) n += c;
    return n;
  }

  start(): void {
    this.started = performance.now();
    // 2 ms ticks: fine enough for a few hundred requests per second, cheap enough to idle.
    this.timer = setInterval(() => {
      this.tick();
    }, 2);
  }

  /** Stops sending and waits (at most 10 s) for outstanding requests. */
  async stop(): Promise<LoadStats> {
    clearInterval(this.timer);
    this.stats.durationMs = performance.now() - this.started;
    const deadline = Date.now() + 10_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.agent.destroy();
    this.finish();
    return this.stats;
  }

  private tick(): void {
    const elapsed = performance.now() - this.started;
    if (elapsed > this.options.maxDurationMs || this.stats.sent >= this.options.maxRequests) {
      void this.stop();
      return;
    }
    const due =
      Math.floor((elapsed * this.options.rate) / 1000) - this.stats.sent - this.stats.skipped;
    for (let i = 0; i < due; i++) {
      if (this.inFlight >= this.options.maxInFlight) {
        this.stats.skipped += due - i;
        return;
      }
      this.send();
    }
  }

  private count(map: Map<string, number>, key: string): void;
  private count(map: Map<number, number>, key: number): void;
  private count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  private send(): void {
    this.stats.sent += 1;
    const sentAt = performance.now();
    this.inFlight += 1;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      this.inFlight -= 1;
      if (error) this.count(this.stats.errors, error.message);
    };
    const req = http.request(
      {
        host: this.url.hostname,
        port: this.url.port,
        path: this.url.pathname,
        agent: this.agent,
        timeout: this.options.timeoutMs ?? 5_000,
      },
      (res) => {
        const at = performance.now();
        this.stats.latencies.push(at - sentAt);
        const status = res.statusCode ?? 0;
        this.options.onResponse(at, res);
        res.resume();
        res.on('end', () => {
          if (status >= 200 && status < 300) this.stats.ok += 1;
          else this.count(this.stats.badStatus, status);
          settle();
        });
        res.on('error', (e) => {
          settle(e);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      settle(e);
    });
    req.end();
  }
}
