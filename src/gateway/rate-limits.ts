// The budgets behind the rateLimit stage, kept across config reloads: a per-replica
// limiter per route (WindowLimiter, below), and for `shared: true` a Redis limiter
// (rate-limiter-flexible's) that every replica spends from. When Redis cannot answer (down, not
// configured, or slower than REDIS_COMMAND_TIMEOUT_MS) a shared limit falls back to the
// per-replica budget: counted, logged on the change, shown by a gauge, never silent and
// never an open door.
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { CompiledRateLimit } from '../api/index.js';
import type { Logger } from '../common/logger.js';
import type { CounterSeries } from '../common/metrics.js';
import type { GatewayMetrics } from './metrics.js';

/** Longest a request waits for Redis before the per-replica budget decides instead. */
export const REDIS_COMMAND_TIMEOUT_MS = 100;
/** After a failed command, how long requests use the per-replica budget before Redis is tried again. */
export const REDIS_RETRY_AFTER_MS = 1000;
/** Reconnect backoff ceiling; ioredis reconnects for as long as the gateway runs. */
const REDIS_RECONNECT_MAX_MS = 2000;

export interface RedisSettings {
  /** redis://[user@]host:port[/db], or rediss:// for TLS. */
  url: string;
  /** Kept out of the URL so it never shows in a process list or a log line. */
  password?: string;
  commandTimeoutMs?: number;
}

/**
 * Fixed windows of `burst` requests per burst/requestsPerSecond seconds: the long-run rate is
 * requestsPerSecond and no window admits more than burst. The schema keeps burst ≥
 * requestsPerSecond, so a window is at least one second, as Redis' key expiry needs.
 */
export function windowSeconds(policy: CompiledRateLimit): number {
  return policy.burst / policy.requestsPerSecond;
}

/**
 * rate-limiter-flexible's script with the expiry in milliseconds (its own uses whole
 * seconds, which would stretch a 2.5 s window to 2 s). ARGV: points, whole seconds,
 * limit, duration in (fractional) seconds.
 */
const INCR_PTTL_SCRIPT = `local ms = math.floor(tonumber(ARGV[4]) * 1000)
redis.call('set', KEYS[1], 0, 'PX', ms, 'NX')
local consumed = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('pexpire', KEYS[1], ms)
  ttl = ms
end
return {consumed, ttl}`;

/** What spending one request of a key's budget came to. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests left in the window (0 once spent). */
  readonly remaining: number;
  /** Milliseconds until the window ends and the budget is whole again. */
  readonly resetMs: number;
}

/** Spends one request of a key's budget; synchronous when the budget is in this process. */
export interface Limiter {
  consume(key: string): RateLimitDecision | Promise<RateLimitDecision>;
}

interface Window {
  count: number;
  endsAt: number;
}

/**
 * A per-replica budget: fixed windows of `points` requests per `windowMs`, each starting at
 * its key's first request, as rate-limiter-flexible's RateLimiterMemory keeps them. Written
 * here because RateLimiterMemory answers every request with a promise: the rate-limit stage
 * then made every request of the route asynchronous, and measured 5× the CPU per decision
 * of this synchronous Map (0.25 against 0.05 µs, bench notes in the README). Memory is
 * bounded by the keys seen in one window: windows that ended are swept once per window.
 */
export class WindowLimiter implements Limiter {
  private readonly windows = new Map<string, Window>();
  private sweepAt: number;

  constructor(
    private readonly points: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.sweepAt = now() + windowMs;
  }

  consume(key: string): RateLimitDecision {
    const now = this.now();
    if (now >= this.sweepAt) this.sweep(now);
    let window = this.windows.get(key);
    if (window === undefined || now >= window.endsAt) {
      window = { count: 0, endsAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    const remaining = this.points - window.count;
    return {
      allowed: remaining >= 0,
      remaining: remaining > 0 ? remaining : 0,
      resetMs: window.endsAt - now,
    };
  }

  /** Keys being counted, for tests of the memory bound. */
  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    this.sweepAt = now + this.windowMs;
    for (const [key, window] of this.windows) {
      if (now >= window.endsAt) this.windows.delete(key);
    }
  }
}

/** rate-limiter-flexible's answer as a RateLimitDecision. */
function decisionOf(res: RateLimiterRes, allowed: boolean): RateLimitDecision {
  return { allowed, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
}

type RedisState = 'unknown' | 'up' | 'down';

/** The Redis connection and what the gateway knows of its health. */
class SharedStore {
  readonly client: Redis;
  private state: RedisState = 'unknown';
  private retryAt = 0;
  private lastError = '';

  constructor(
    settings: RedisSettings,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    readonly address: string,
  ) {
    this.client = new Redis(settings.url, {
      ...(settings.password !== undefined && { password: settings.password }),
      // A command while disconnected fails at once (and the replica's budget decides)
      // rather than queueing until a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: settings.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * times, REDIS_RECONNECT_MAX_MS),
    });
    this.client.on('ready', () => {
      this.retryAt = 0;
      this.up();
    });
    // ioredis emits an error per failed reconnect; the state change is what gets logged.
    this.client.on('error', (error: Error) => {
      this.lastError = error.message;
    });
    this.client.on('close', () => {
      this.down(this.lastError || 'connection closed');
    });
  }

  /** Whether a request should ask Redis now. */
  usable(): boolean {
    if (this.client.status !== 'ready') return false;
    return this.state === 'up' || Date.now() >= this.retryAt;
  }

  up(): void {
    if (this.state === 'up') return;
    const was = this.state;
    this.state = 'up';
    this.metrics.redisUp.set(1);
    if (was === 'down') {
      this.logger.info('Redis reachable again: shared rate limits are shared again', {
        redis: this.address,
      });
    }
  }

  failed(error: unknown): void {
    this.retryAt = Date.now() + REDIS_RETRY_AFTER_MS;
    this.down(error instanceof Error ? error.message : String(error));
  }

  down(reason: string): void {
    if (this.state === 'down') return;
    this.state = 'down';
    this.metrics.redisUp.set(0);
    this.logger.warn(
      'Redis unreachable: shared rate limits fall back to per-replica limits (each replica allows the whole budget)',
      { redis: this.address, reason },
    );
  }

  /** A first request before the connection is up is a fallback too, and says so. */
  notReady(): void {
    if (this.state === 'unknown') this.down(this.lastError || `connection ${this.client.status}`);
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** A shared limit: Redis first, the per-replica budget when Redis cannot answer in time. */
class SharedLimiter implements Limiter {
  constructor(
    private readonly store: SharedStore,
    private readonly redis: RateLimiterRedis,
    private readonly replica: WindowLimiter,
    private readonly fallbacks: CounterSeries<string>,
  ) {}

  async consume(key: string): Promise<RateLimitDecision> {
    if (this.store.usable()) {
      try {
        const res = await this.redis.consume(key);
        this.store.up();
        return decisionOf(res, true);
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          this.store.up();
          return decisionOf(error, false);
        }
        this.store.failed(error);
      }
    } else {
      this.store.notReady();
    }
    this.fallbacks.inc();
    return this.replica.consume(key);
  }
}

/** A shared limit on a gateway without Redis: the per-replica budget, every decision counted. */
class UnsharedLimiter implements Limiter {
  constructor(
    private readonly replica: WindowLimiter,
    private readonly fallbacks: CounterSeries<string>,
  ) {}

  consume(key: string): RateLimitDecision {
    this.fallbacks.inc();
    return this.replica.consume(key);
  }
}

function redactedAddress(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export interface RateLimitsOptions {
  logger: Logger;
  metrics: GatewayMetrics;
  /** Absent: shared limits are kept per replica (and counted as fallbacks). */
  redis?: RedisSettings;
  /** Prefix of every Redis key, so gateways of different ApiRoutes never share a budget. */
  keyPrefix?: string;
}

/**
 * The limiters of the config in use. A route keeps its limiter (and the budgets spent so
 * far) across reloads while its policy stays the same.
 */
export class RateLimits {
  private readonly store: SharedStore | undefined;
  private current = new Map<string, Limiter>();
  private next = new Map<string, Limiter>();

  constructor(private readonly options: RateLimitsOptions) {
    const { redis } = options;
    this.store =
      redis !== undefined
        ? new SharedStore(redis, options.logger, options.metrics, redactedAddress(redis.url))
        : undefined;
  }

  /** The limiter of a route's policy; `scope` (the ApiRoute, namespace/name) names its Redis keys. */
  limiter(route: string, policy: CompiledRateLimit, scope: string): Limiter {
    const id = `${scope}\u0000${route}\u0000${policy.requestsPerSecond}\u0000${policy.burst}\u0000${policy.shared}`;
    const existing = this.next.get(id) ?? this.current.get(id);
    if (existing !== undefined) {
      this.next.set(id, existing);
      return existing;
    }
    const limiter = this.create(route, policy, scope);
    this.next.set(id, limiter);
    return limiter;
  }

  /** Drops the limiters the config just applied no longer asked for. */
  configApplied(): void {
    this.current = this.next;
    this.next = new Map();
  }

  async close(): Promise<void> {
    await this.store?.close();
  }

  private create(route: string, policy: CompiledRateLimit, scope: string): Limiter {
    const duration = windowSeconds(policy);
    const replica = new WindowLimiter(policy.burst, duration * 1000);
    if (!policy.shared) return replica;
    const fallbacks = this.options.metrics.rateLimitFallbacks.labels({ route });
    if (this.store === undefined) {
      this.options.logger.warn(
        'route has a shared rate limit but the gateway has no Redis (--redis-url): limiting per replica',
        { route },
      );
      return new UnsharedLimiter(replica, fallbacks);
    }
    const redis = new RateLimiterRedis({
      storeClient: this.store.client,
      keyPrefix: `${this.options.keyPrefix ?? 'figway'}:rl:${scope}:${route}`,
      points: policy.burst,
      duration,
      customIncrTtlLuaScript: INCR_PTTL_SCRIPT,
      // Once a key is over its budget, refuse it locally until its window ends, so a
      // client hammering a spent budget costs Redis nothing.
      inMemoryBlockOnConsumed: policy.burst + 1,
    });
    return new SharedLimiter(this.store, redis, replica, fallbacks);
  }
}
