// `figway operator`: flags → settings, then run until SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startAdminServer } from '../common/admin-server.js';
import { createLogger, errorFields, type LogLevel } from '../common/logger.js';
import { Operator, defaultIdentity, type OperatorOptions } from './controller.js';
import { intFlag, logLevelFlag } from '../common/flags.js';
import { LOG_LEVELS } from '../common/log-level.js';
import { SETTINGS_OPTIONS, settingsFromValues } from './flags.js';
import { DEFAULT_SETTINGS } from './settings.js';
import { loadKubeConfig } from '../common/kube-config.js';
import { OperatorMetrics } from './metrics.js';
import { PrometheusSource } from './migration/prometheus-source.js';

/**
 * Client-side API rate limit. controller-runtime's 20 requests/s (burst 30) would spread
 * the 9 requests of each of 1,000 new ApiRoutes over 7 minutes; the API server's Priority
 * and Fairness is the real guard (its 429s are honoured), so this only keeps a runaway
 * loop from taking all of a small control plane (about 1.5 ms of API server CPU a request).
 */
export const DEFAULT_API_QPS = 500;
export const DEFAULT_API_BURST = 1000;

export const OPERATOR_USAGE = `usage: figway operator [flags]

  --kubeconfig PATH                 kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespaces A,B                  watch only these namespaces (default: all)
  --concurrency N                   ApiRoutes reconciled in parallel (default 16)
  --kube-api-qps N                  client-side limit on reconcile API requests per second (default ${DEFAULT_API_QPS}; 0 = none)
  --kube-api-burst N                requests allowed at once above that rate (default ${DEFAULT_API_BURST})
  --image IMAGE                     gateway image (default ghcr.io/figway/figway:0.1.0)
  --image-pull-policy POLICY        Always, IfNotPresent or Never (default IfNotPresent)
  --drain-seconds N                 gateway drain on shutdown (default ${DEFAULT_SETTINGS.drainSeconds})
  --gateway-access-log-sample-ratio F
                                    access log share for ApiRoutes without spec.gateway.accessLog (default 0)
  --gateway-access-log-errors BOOL  also log their failed requests (default false)
  --gateway-redis-url URL           Redis of shared rate limits, given to every gateway as --redis-url
  --gateway-redis-password-secret NAME
                                    Secret with its password, in each gateway's namespace (FIGWAY_REDIS_PASSWORD)
  --gateway-redis-password-key KEY  the key of that Secret (default password)
  --gateway-tracing-endpoint URL    OTLP/HTTP receiver of gateways whose ApiRoute names none
                                    (default: none, so tracing is off unless an ApiRoute turns it on)
  --gateway-tracing-sampling-ratio F
                                    share of new traces sampled where the ApiRoute sets none (default 0.01)
  --admin-port N                    /healthz, /readyz and /metrics (default 8081; 0 = any free port)
  --admin-address ADDR              admin listen address (default 0.0.0.0)
  --resync-seconds N                re-reconcile every ApiRoute this often (default 300)
  --leader-elect=false              run without leader election (only for a single replica)
  --leader-election-namespace NS    namespace of the Lease (default $POD_NAMESPACE, else figway-system)
  --leader-election-id NAME         name of the Lease (default figway-operator)
  --lease-duration-seconds N        default 15
  --renew-deadline-seconds N        default 10
  --retry-period-seconds N          default 2
  --identity ID                     leader election identity (default hostname_pid)
  --prometheus-url URL              Prometheus that scrapes the gateways: the migration autopilot and
                                    status.routes[].shadow read from it (default: none, so migrations
                                    wait at 0% saying so, and status has no shadow)
  --shadow-status-seconds N         how often status.routes[].shadow is refreshed (default 30)
  --log-level LEVEL                 ${LOG_LEVELS.join(', ')} (default info)`;

function inClusterNamespace(): string | undefined {
  try {
    return (
      readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

export interface ParsedOperatorFlags {
  options: Omit<OperatorOptions, 'kubeConfig' | 'logger' | 'metrics'>;
  kubeconfig: string | undefined;
  adminPort: number;
  adminAddress: string;
  logLevel: LogLevel;
}

/** Parses `figway operator` flags; throws with a message naming the bad flag. */
export function parseOperatorFlags(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedOperatorFlags {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...SETTINGS_OPTIONS,
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      concurrency: { type: 'string' },
      'kube-api-qps': { type: 'string' },
      'kube-api-burst': { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-address': { type: 'string' },
      'resync-seconds': { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      'lease-duration-seconds': { type: 'string' },
      'renew-deadline-seconds': { type: 'string' },
      'retry-period-seconds': { type: 'string' },
      identity: { type: 'string' },
      'log-level': { type: 'string' },
      'prometheus-url': { type: 'string' },
      'shadow-status-seconds': { type: 'string' },
    },
  });
  const prometheusUrl = values['prometheus-url'];
  if (prometheusUrl !== undefined && !/^https?:\/\/[^\s/?#]+/.test(prometheusUrl)) {
    throw new Error(
      `--prometheus-url must be an http:// or https:// URL such as http://prometheus.monitoring:9090, got ${JSON.stringify(prometheusUrl)}`,
    );
  }
  const prometheus =
    prometheusUrl === undefined ? undefined : new PrometheusSource({ url: prometheusUrl });
  const logLevel = logLevelFlag(values['log-level']) ?? 'info';
  const leaderElect = values['leader-elect'] ?? 'true';
  if (leaderElect !== 'true' && leaderElect !== 'false') {
    throw new Error(`--leader-elect must be true or false, got ${JSON.stringify(leaderElect)}`);
  }
  const namespaces = values.namespaces
    ?.split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const ns of namespaces ?? []) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) {
      throw new Error(`--namespaces: ${JSON.stringify(ns)} is not a valid namespace name`);
    }
  }
  const leaseDuration = intFlag(
    'lease-duration-seconds',
    values['lease-duration-seconds'],
    15,
    2,
    600,
  );
  const renewDeadline = intFlag(
    'renew-deadline-seconds',
    values['renew-deadline-seconds'],
    10,
    1,
    599,
  );
  const retryPeriod = intFlag('retry-period-seconds', values['retry-period-seconds'], 2, 1, 300);
  if (!(retryPeriod < renewDeadline && renewDeadline < leaseDuration)) {
    throw new Error(
      `need --retry-period-seconds < --renew-deadline-seconds < --lease-duration-seconds, got ${retryPeriod} < ${renewDeadline} < ${leaseDuration}`,
    );
  }
  return {
    kubeconfig: values.kubeconfig,
    adminPort: intFlag('admin-port', values['admin-port'], 8081, 0, 65535),
    adminAddress: values['admin-address'] ?? '0.0.0.0',
    logLevel,
    options: {
      ...(namespaces && namespaces.length > 0 && { namespaces }),
      // A reconcile waits on API round trips far more than it computes: 16 at once keep
      // the API server, not the operator, the limit (bench:scale, issue 18).
      concurrency: intFlag('concurrency', values.concurrency, 16, 1, 64),
      apiRateLimit: {
        qps: intFlag('kube-api-qps', values['kube-api-qps'], DEFAULT_API_QPS, 0, 100_000),
        burst: intFlag('kube-api-burst', values['kube-api-burst'], DEFAULT_API_BURST, 1, 100_000),
      },
      ...(prometheus !== undefined && {
        observations: prometheus,
        shadowStatus: {
          prometheus,
          intervalMs:
            intFlag('shadow-status-seconds', values['shadow-status-seconds'], 30, 1, 3600) * 1000,
        },
      }),
      settings: settingsFromValues(values),
      identity: values.identity ?? defaultIdentity(),
      resyncMs: intFlag('resync-seconds', values['resync-seconds'], 300, 0, 86_400) * 1000,
      leaderElection: {
        enabled: leaderElect === 'true',
        namespace:
          values['leader-election-namespace'] ??
          env.POD_NAMESPACE ??
          inClusterNamespace() ??
          'figway-system',
        name: values['leader-election-id'] ?? 'figway-operator',
        leaseDurationMs: leaseDuration * 1000,
        renewDeadlineMs: renewDeadline * 1000,
        retryPeriodMs: retryPeriod * 1000,
      },
    },
  };
}

/** Runs the operator until SIGTERM or SIGINT; exit code 0 after a clean stop. */
export async function operatorCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${OPERATOR_USAGE}\n`);
    return 0;
  }
  let parsed: ParsedOperatorFlags;
  try {
    parsed = parseOperatorFlags(args);
  } catch (error) {
    process.stderr.write(`figway operator: ${(error as Error).message}\n${OPERATOR_USAGE}\n`);
    return 2;
  }
  const logger = createLogger({ component: 'operator', level: parsed.logLevel });
  const metrics = new OperatorMetrics();
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(parsed.kubeconfig);
  } catch (error) {
    logger.error('cannot load the kubeconfig', errorFields(error));
    return 1;
  }
  kubeConfig.observeRequests((method, host, status) => {
    metrics.restRequest(method, host, status);
  });
  const operator = new Operator({ ...parsed.options, kubeConfig, logger, metrics });
  const admin = await startAdminServer({
    port: parsed.adminPort,
    host: parsed.adminAddress,
    registry: metrics.registry,
    readiness: () => operator.readiness(),
  });
  logger.info('operator starting', {
    identity: operator.identity,
    adminPort: admin.port,
    namespaces: parsed.options.namespaces ?? 'all',
    concurrency: parsed.options.concurrency,
    image: parsed.options.settings.image,
    migrationObservations: parsed.options.observations?.description ?? 'none',
    leaderElection: parsed.options.leaderElection.enabled
      ? `${parsed.options.leaderElection.namespace}/${parsed.options.leaderElection.name}`
      : 'disabled',
  });
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    signalled(signal);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await Promise.race([operator.start(), stopped]);
    const signal = await stopped;
    logger.info('signal received: shutting down', { signal });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await operator.stop();
    await admin.close();
  }
  return 0;
}
