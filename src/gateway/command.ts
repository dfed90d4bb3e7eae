// `figway gateway`: one ApiRoute's gateway. Loads the route table from a ConfigSource,
// serves traffic on --port and /healthz, /readyz, /metrics on --admin-port, reloads on
// every config change and drains on SIGTERM.
import { parseArgs } from 'node:util';
import { GATEWAY_DEFAULTS, secretUses, type RouteTable } from '../api/index.js';
import {
  sendJson,
  startAdminServer,
  type AdminHandler,
  type AdminServer,
} from '../common/admin-server.js';
import { createLogger, errorFields, type LogLevel, type Logger } from '../common/logger.js';
import { intFlag, logLevelFlag } from '../common/flags.js';
import { LOG_LEVELS } from '../common/log-level.js';
import { REDIS_PASSWORD_ENV, redisUrlProblem } from '../common/redis-url.js';
import { onStopSignal } from '../common/signals.js';
import { StaticSecretSource, type SecretSource } from './secret-source.js';
import { SecretStore } from './secret-store.js';
import { cachePurgeHandler } from './cache/purge.js';
import { FileConfigSource, type ConfigSource } from './config-source.js';
import { Gateway, type ConnectionLimits } from './server.js';
import { REDIS_COMMAND_TIMEOUT_MS, type RedisSettings } from './rate-limits.js';

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
  --api-keys-file FILE      Secrets for local runs, as "<secret name>: { <key>: <value> }": API
                            keys (consumer → key) and JWKS (jwksSecretRef's key → JWKS JSON);
                            with --configmap they come from the Secrets the ApiRoute names
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
  /**
   * Fills the API keys and JWKS the config takes from Secrets; without one, routes with
   * auth.apiKey or auth.jwt.jwksSecretRef answer 503.
   */
  secretSource?: SecretSource;
  /** The store secretSource fills; default: a new one. */
  secrets?: SecretStore;
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
    ...(options.secrets !== undefined && { secrets: options.secrets }),
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
  const secretSource = options.secretSource;
  let secretsFollowed: Promise<void> = Promise.resolve();
  const followSecrets = (table: RouteTable) => {
    const uses = secretUses(table);
    if (uses.length === 0 && secretSource === undefined) return;
    if (secretSource === undefined) {
      logger.warn('the config reads Secrets but this gateway has no source for them', {
        secrets: uses.map((u) => u.name),
      });
      return;
    }
    secretsFollowed = secretSource.follow(uses).then(() => {
      const { secrets } = gateway;
      const missing = uses.flatMap((u) => [
        ...(u.apiKeys && secrets.apiKeys(u.name).keys === undefined ? [u.name] : []),
        ...u.jwksKeys
          .filter((key) => secrets.jwks(u.name, key).keys === undefined)
          .map((key) => `${u.name} key ${key}`),
      ]);
      if (missing.length > 0) {
        logger.warn('nothing loaded from some Secrets; their routes answer 503', {
          secrets: missing,
          secretSource: secretSource.description,
        });
      }
    });
  };
  const onConfig = (table: RouteTable) => {
    try {
      followSecrets(table);
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
  await secretsFollowed;
  return {
    gateway,
    admin,
    port,
    logger,
    async stop(drainMs: number) {
      await options.source.stop();
      await secretSource?.stop();
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
  const problem = redisUrlProblem('--redis-url', url);
  if (problem !== undefined) throw new Error(problem);
  const password = process.env[REDIS_PASSWORD_ENV];
  return {
    url,
    ...(password !== undefined && password !== '' && { password }),
    commandTimeoutMs: intFlag('redis-timeout-ms', timeout, REDIS_COMMAND_TIMEOUT_MS, 1, 10_000),
  };
}

/** How a source's failures are logged: what fails is named in the message. */
function secretErrorLogger(logger: Logger): (error: Error) => void {
  return (error) => {
    logger.error(
      'a Secret was not applied; its last good contents stay in use',
      errorFields(error),
    );
  };
}

/** The Secrets of the gateway's namespace, watched by name as the config names them. */
async function kubeSecretSource(
  namespace: string,
  store: SecretStore,
  logger: Logger,
): Promise<SecretSource> {
  const { KubeSecretSource } = await import('./secret-source.js');
  return new KubeSecretSource({ namespace, store, onError: secretErrorLogger(logger) });
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
  let options: Omit<StartGatewayOptions, 'logger' | 'secretSource'> & {
    drainMs: number;
    level: LogLevel | undefined;
  };
  const secrets = new SecretStore();
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
      secrets,
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
    const secretSource =
      keysFile !== undefined
        ? await StaticSecretSource.load(keysFile, secrets, secretErrorLogger(logger))
        : values.configmap !== undefined
          ? await kubeSecretSource(values.namespace ?? '', secrets, logger)
          : undefined;
    running = await startGateway({
      ...options,
      ...(secretSource !== undefined && { secretSource }),
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
