// `figway gateway`: one ApiRoute's gateway. Loads the route table from a ConfigSource,
// serves traffic on --port and /healthz, /readyz, /metrics on --admin-port, reloads on
// every config change and drains on SIGTERM.
import { parseArgs } from 'node:util';
import { apiKeySecretNames, GATEWAY_DEFAULTS, type RouteTable } from '../api/index.js';
import {
  sendJson,
  startAdminServer,
  type AdminHandler,
  type AdminServer,
} from '../common/admin-server.js';
import { createLogger, errorFields, type LogLevel, type Logger } from '../common/logger.js';
import { intFlag, logLevelFlag } from '../common/flags.js';
import { LOG_LEVELS } from '../common/log-level.js';
import { onStopSignal } from '../common/signals.js';
import { FileKeySource, type ApiKeySource } from './api-key-source.js';
import { ApiKeyStore } from './api-keys.js';
import { cachePurgeHandler } from './cache/purge.js';
import { FileConfigSource, type ConfigSource } from './config-source.js';
import { Gateway, type ConnectionLimits } from './server.js';
import { REDIS_COMMAND_TIMEOUT_MS, type RedisSettings } from './rate-limits.js';

/** Where the gateway reads the Redis password (from a Secret), so it never shows in its args. */
export const REDIS_PASSWORD_ENV = 'FIGWAY_REDIS_PASSWORD';
import { applyServiceOverrides, parseResolveFlags } from './resolve.js';
import { renderShadowPage } from './shadow/page.js';
import { DEFAULT_SHADOW_IN_FLIGHT, type ShadowRegistry } from './shadow/registry.js';

export const GATEWAY_USAGE = `usage: figway gateway --config FILE [options]

  --config FILE             ApiRoute YAML to serve; reloaded when it changes
  --configmap NAME          or: the route-table ConfigMap to watch (with --namespace NS)
  --port N                  traffic port (default ${GATEWAY_DEFAULTS.port})
  --admin-port N            /healthz, /readyz, /metrics, /shadow (default ${GATEWAY_DEFAULTS.adminPort})
  --host ADDR               address to listen on (default 0.0.0.0)
  --resolve NAME=URL        send Service NAME's traffic to URL (repeatable; local runs)
  --api-keys-file FILE      API keys for local runs, as "<secret name>: { <consumer>: <key> }"
                            (with --configmap the keys come from the Secrets the ApiRoute names)
  --log-level LEVEL         ${LOG_LEVELS.join('|')} (default: the ApiRoute's gateway.logLevel)
  --drain-seconds N         on SIGTERM, how long in-flight requests may finish (default ${GATEWAY_DEFAULTS.drainSeconds})
  --shadow-in-flight N      most shadow comparisons at once; more are skipped (default ${DEFAULT_SHADOW_IN_FLIGHT})
  --redis-url URL           Redis for shared rate limits (redis://host:port[/db], rediss:// for TLS);
                            its password comes from the environment variable ${REDIS_PASSWORD_ENV}
  --redis-timeout-ms N      longest a request waits for Redis before its replica decides (default ${REDIS_COMMAND_TIMEOUT_MS})
`;

export interface RunningGateway {
  gateway: Gateway;
  admin: AdminServer;
  port: number;
  logger: Logger;
  /** Drains and stops everything; resolves true when no request was cut off. */
  stop(drainMs: number): Promise<boolean>;
}

export interface StartGatewayOptions {
  source: ConfigSource;
  /** Fills the api-key stage's keys; without one, routes with auth.apiKey answer 503. */
  keySource?: ApiKeySource;
  /** The store keySource fills; default: a new one. */
  apiKeys?: ApiKeyStore;
  port: number;
  adminPort: number;
  host?: string;
  overrides?: ReadonlyMap<string, string>;
  logger: Logger;
  /** A --log-level flag wins over the ApiRoute's gateway.logLevel. */
  fixedLogLevel?: boolean;
  /** Where access log lines go (spec.gateway.accessLog); default: logger. */
  accessLogger?: Logger;
  limits?: Partial<ConnectionLimits>;
  /** Most shadow comparisons in flight (default DEFAULT_SHADOW_IN_FLIGHT). */
  shadowInFlight?: number;
  /** The Redis of shared rate limits (--redis-url). */
  redis?: RedisSettings;
  /** Called after each config is applied (the dev command prints it). */
  onApplied?: (table: RouteTable) => void;
}

/** The admin port's /shadow (JSON) and /shadow.html (the page a person reads). */
function shadowHandlers(shadows: ShadowRegistry): Record<string, AdminHandler> {
  return {
    // Indented: people read it with curl.
    '/shadow': (_req, res) => {
      sendJson(res, 200, shadows.report(), 2);
    },
    '/shadow.html': (_req, res) => {
      const page = renderShadowPage(shadows.report());
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(page),
        'cache-control': 'no-store',
      });
      res.end(page);
    },
  };
}

/**
 * Starts a gateway and its admin server and waits for the first config attempt. Traffic
 * is accepted from the start: until a config loads, requests get 503 and /readyz says
 * not ready, so the pod never receives traffic it cannot route.
 */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const { logger } = options;
  const gateway = new Gateway({
    logger,
    ...(options.apiKeys !== undefined && { apiKeys: options.apiKeys }),
    ...(options.accessLogger !== undefined && { accessLogger: options.accessLogger }),
    ...(options.limits !== undefined && { limits: options.limits }),
    ...(options.shadowInFlight !== undefined && { shadowInFlight: options.shadowInFlight }),
    ...(options.redis !== undefined && { redis: options.redis }),
  });
  const overrides = options.overrides ?? new Map<string, string>();
  const host = options.host ?? '0.0.0.0';
  const admin = await startAdminServer({
    port: options.adminPort,
    host,
    registry: gateway.metrics.registry,
    readiness: () => {
      const r = gateway.readiness();
      return { ...r, details: { ...r.details, configSource: options.source.description } };
    },
    handlers: shadowHandlers(gateway.shadows),
    postHandlers: { '/cache/purge': cachePurgeHandler(gateway) },
  });
  let port: number;
  try {
    port = await gateway.listen(options.port, host);
  } catch (error) {
    await admin.close();
    throw error;
  }
  const keySource = options.keySource;
  let keysFollowed: Promise<void> = Promise.resolve();
  const followKeys = (table: RouteTable) => {
    const names = apiKeySecretNames(table);
    if (names.length === 0 && keySource === undefined) return;
    if (keySource === undefined) {
      logger.warn('the config asks for API keys but this gateway has no key source', {
        secrets: names,
      });
      return;
    }
    keysFollowed = keySource.follow(names).then(() => {
      const missing = names.filter((name) => gateway.apiKeys.ring(name).keys === undefined);
      if (missing.length > 0) {
        logger.warn('no API keys loaded for some Secrets; their routes answer 503', {
          secrets: missing,
          keySource: keySource.description,
        });
      }
    });
  };
  const onConfig = (table: RouteTable) => {
    try {
      followKeys(table);
      if (options.fixedLogLevel !== true) logger.level = table.logLevel;
      const result = gateway.applyTable(
        table,
        overrides.size > 0 ? applyServiceOverrides(table, overrides) : table,
      );
      if (result === 'success') options.onApplied?.(table);
    } catch (error) {
      gateway.rejectConfig(error as Error);
    }
  };
  const onError = (error: Error) => {
    gateway.rejectConfig(error);
  };
  await options.source.start(onConfig, onError);
  // The first table's Secrets are tried before the gateway calls itself started.
  await keysFollowed;
  return {
    gateway,
    admin,
    port,
    logger,
    async stop(drainMs: number) {
      await options.source.stop();
      await keySource?.stop();
      const drained = await gateway.shutdown(drainMs);
      await admin.close();
      return drained;
    },
  };
}

/**
 * The in-cluster source, loaded only when asked for: the Kubernetes client is large and a
 * file-configured gateway (local runs, `figway dev`) never needs it.
 */
async function configMapSource(name: string, namespace: string | undefined): Promise<ConfigSource> {
  if (namespace === undefined) throw new Error('--configmap needs --namespace');
  const { ConfigMapConfigSource } = await import('./configmap-source.js');
  return new ConfigMapConfigSource({ name, namespace });
}

function redisSettings(url: string, timeout: string | undefined): RedisSettings {
  if (!/^rediss?:\/\/[^\s/]+/.test(url) || !URL.canParse(url)) {
    throw new Error(`--redis-url must be redis://host:port or rediss://host:port, got ${url}`);
  }
  if (new URL(url).password !== '') {
    throw new Error(`--redis-url must not hold a password: set ${REDIS_PASSWORD_ENV} instead`);
  }
  const password = process.env[REDIS_PASSWORD_ENV];
  return {
    url,
    ...(password !== undefined && password !== '' && { password }),
    commandTimeoutMs: intFlag('redis-timeout-ms', timeout, REDIS_COMMAND_TIMEOUT_MS, 1, 10_000),
  };
}

/** The Secrets of the gateway's namespace, watched by name as the config names them. */
async function secretKeySource(
  namespace: string,
  store: ApiKeyStore,
  logger: Logger,
): Promise<ApiKeySource> {
  const { SecretKeySource } = await import('./api-key-source.js');
  return new SecretKeySource({
    namespace,
    store,
    onError: (error) => {
      logger.error('API keys not updated, keeping the last good ones', errorFields(error));
    },
  });
}

/** `figway gateway …`; resolves with the exit code once the gateway has stopped. */
export async function gatewayCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        configmap: { type: 'string' },
        namespace: { type: 'string' },
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        host: { type: 'string' },
        resolve: { type: 'string', multiple: true },
        'api-keys-file': { type: 'string' },
        'log-level': { type: 'string' },
        'drain-seconds': { type: 'string' },
        'shadow-in-flight': { type: 'string' },
        'redis-url': { type: 'string' },
        'redis-timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`figway gateway: ${(error as Error).message}\n${GATEWAY_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(GATEWAY_USAGE);
    return 0;
  }
  let options: Omit<StartGatewayOptions, 'logger' | 'keySource'> & {
    drainMs: number;
    level: LogLevel | undefined;
  };
  const apiKeys = new ApiKeyStore();
  try {
    if ((values.config === undefined) === (values.configmap === undefined)) {
      throw new Error('give exactly one of --config FILE or --configmap NAME');
    }
    if (values.configmap !== undefined && values['api-keys-file'] !== undefined) {
      throw new Error(
        '--api-keys-file is for --config runs; with --configmap the keys come from the Secrets the ApiRoute names',
      );
    }
    const level = logLevelFlag(values['log-level']);
    options = {
      source:
        values.config !== undefined
          ? new FileConfigSource(values.config)
          : await configMapSource(values.configmap ?? '', values.namespace),
      port: intFlag('port', values.port, GATEWAY_DEFAULTS.port, 0, 65535),
      adminPort: intFlag('admin-port', values['admin-port'], GATEWAY_DEFAULTS.adminPort, 0, 65535),
      ...(values.host !== undefined && { host: values.host }),
      overrides: parseResolveFlags(values.resolve ?? []),
      apiKeys,
      drainMs:
        intFlag('drain-seconds', values['drain-seconds'], GATEWAY_DEFAULTS.drainSeconds, 0, 3600) *
        1000,
      shadowInFlight: intFlag(
        'shadow-in-flight',
        values['shadow-in-flight'],
        DEFAULT_SHADOW_IN_FLIGHT,
        0,
        10_000,
      ),
      level,
      ...(values['redis-url'] !== undefined && {
        redis: redisSettings(values['redis-url'], values['redis-timeout-ms']),
      }),
    };
  } catch (error) {
    process.stderr.write(`figway gateway: ${(error as Error).message}\n`);
    return 2;
  }
  const logger = createLogger({
    component: 'gateway',
    level: options.level ?? 'info',
  });
  let running: RunningGateway;
  try {
    const keysFile = values['api-keys-file'];
    const keySource =
      keysFile !== undefined
        ? await FileKeySource.load(keysFile, apiKeys)
        : values.configmap !== undefined
          ? await secretKeySource(values.namespace ?? '', apiKeys, logger)
          : undefined;
    running = await startGateway({
      ...options,
      ...(keySource !== undefined && { keySource }),
      logger,
      // Access logs are asked for in the ApiRoute; the gateway's log level must not hide them.
      accessLogger: createLogger({ component: 'gateway', level: 'info' }),
      fixedLogLevel: options.level !== undefined,
    });
  } catch (error) {
    logger.error('gateway failed to start', errorFields(error));
    return 1;
  }
  logger.info('gateway listening', {
    port: running.port,
    adminPort: running.admin.port,
    config: options.source.description,
  });
  return new Promise<number>((resolve) => {
    onStopSignal((signal) => {
      logger.info('draining', {
        signal,
        inFlight: running.gateway.requestsInFlight,
        drainMs: options.drainMs,
      });
      running.stop(options.drainMs).then(
        (drained) => {
          if (drained) logger.info('stopped: every in-flight request finished');
          else logger.warn('stopped: drain deadline passed, remaining requests were cut off');
          resolve(0);
        },
        (error: unknown) => {
          logger.error('shutdown failed', errorFields(error));
          resolve(1);
        },
      );
    });
  });
}
