// `figway status [NAME] [-n NS] [--watch]`, also the kubectl plugin `kubectl figway status`:
// reads ApiRoutes and their Events through the API server, and with --prometheus-url what
// each route's traffic did over a window (the migration autopilot's own queries), then
// prints status-view.ts's text.
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  API_VERSION,
  backendName,
  DURATION,
  durationToMs,
  GROUP,
  KIND,
  MONOLITH_BACKEND,
  PLURAL,
  VERSION,
  validateApiRoute,
} from '../api/index.js';
import { describeApiError } from '../common/api-error.js';
import { loadKubeConfig } from '../common/kube-config.js';
import { systemClock } from './leader-election.js';
import { defaultNamespace } from './migration/cli.js';
import { PrometheusSource } from './migration/prometheus-source.js';
import type { ObservationResult } from './migration/state-machine.js';
import { formatStatus, type StatusApiRoute, type StatusEvent } from './status-view.js';

export const STATUS_USAGE = `usage: figway status [NAME] [-n NAMESPACE | -A] [--watch] [--prometheus-url URL] [--window DURATION]
       (or: kubectl figway status …)

Per route of each ApiRoute (NAME, or every one in the namespace): the configured share of
the new service (spec), the effective one (what the gateway serves, migration included),
the observed one and the 5xx ratios of the new service and the monolith, then conditions
and recent Events.

  -n, --namespace NS      namespace (default: the kubeconfig context's, else default)
  -A, --all-namespaces    every namespace (without NAME)
  -w, --watch             print again every 2 seconds until interrupted
  --prometheus-url URL    read observed share and 5xx ratios from this Prometheus (the
                          operator's --prometheus-url); without it they come from status
                          (the last migration verdict)
  --window DURATION       the window observed over (default 5m)
  --kubeconfig FILE       kubeconfig (default $KUBECONFIG or ~/.kube/config)
  -h, --help              this help`;

const WATCH_INTERVAL_MS = 2000;

interface StatusOptions {
  name: string | undefined;
  namespace: string | undefined;
  allNamespaces: boolean;
  watch: boolean;
  prometheus: PrometheusSource | undefined;
  windowText: string;
  kubeconfig: string | undefined;
}

/** Parses the flags; throws naming the bad one. */
export function parseStatusFlags(args: string[]): StatusOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      watch: { type: 'boolean', short: 'w' },
      'prometheus-url': { type: 'string' },
      window: { type: 'string' },
      kubeconfig: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (positionals.length > 1)
    throw new Error(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  const [name] = positionals;
  const allNamespaces = values['all-namespaces'] === true;
  if (allNamespaces && (name !== undefined || values.namespace !== undefined))
    throw new Error('-A lists every ApiRoute of every namespace: give no NAME and no -n');
  const windowText = values.window ?? '5m';
  if (!DURATION.test(windowText))
    throw new Error(
      `--window must be a duration such as 5m or 1h, got ${JSON.stringify(windowText)}`,
    );
  const url = values['prometheus-url'];
  if (url !== undefined && !/^https?:\/\/[^\s/?#]+/.test(url))
    throw new Error(
      `--prometheus-url must be an http:// or https:// URL, got ${JSON.stringify(url)}`,
    );
  return {
    name,
    namespace: values.namespace,
    allNamespaces,
    watch: values.watch === true,
    prometheus: url === undefined ? undefined : new PrometheusSource({ url }),
    windowText,
    kubeconfig: values.kubeconfig,
  };
}

interface ListedEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: Date | string;
  eventTime?: Date | string;
  metadata?: { creationTimestamp?: Date | string };
}

function eventTime(e: ListedEvent): number {
  const at = e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
  return at === undefined ? 0 : new Date(at).getTime();
}

async function readEvents(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<StatusEvent[]> {
  const list = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.apiVersion=${API_VERSION},involvedObject.kind=${KIND},involvedObject.name=${name}`,
  });
  return (list.items as ListedEvent[])
    .map((e) => ({
      type: e.type ?? 'Normal',
      reason: e.reason ?? '',
      message: e.message ?? '',
      lastMs: eventTime(e),
      count: e.count ?? 1,
    }))
    .sort((a, b) => a.lastMs - b.lastMs);
}

/** What each route did over the window, by the autopilot's queries; a failure is a reason. */
async function observe(
  prometheus: PrometheusSource,
  apiRoute: StatusApiRoute,
  windowMs: number,
  nowMs: number,
): Promise<Map<string, ObservationResult>> {
  const out = new Map<string, ObservationResult>();
  const valid = validateApiRoute(apiRoute);
  if (!valid.ok) return out;
  const { name, namespace = 'default' } = apiRoute.metadata;
  await Promise.all(
    valid.value.spec.routes.map(async (route) => {
      const newBackends = route.backends.map(backendName).filter((b) => b !== MONOLITH_BACKEND);
      out.set(
        route.name,
        await prometheus.observe({
          namespace,
          apiRoute: name,
          route: route.name,
          newBackends,
          fromMs: nowMs - windowMs,
          toMs: nowMs,
          latency: false,
          shadow: false,
        }),
      );
    }),
  );
  return out;
}

/** The whole text for one round: every selected ApiRoute. Throws on an API failure. */
async function render(kc: KubeConfig, options: StatusOptions): Promise<string> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = options.namespace ?? defaultNamespace(kc);
  const base = { group: GROUP, version: VERSION, plural: PLURAL };
  let apiRoutes: StatusApiRoute[];
  if (options.name !== undefined) {
    const where = `ApiRoute ${namespace}/${options.name}`;
    apiRoutes = [
      (await custom
        .getNamespacedCustomObject({ ...base, namespace, name: options.name })
        .catch((error: unknown) => {
          throw new Error(`cannot read ${where}: ${describeApiError(error)}`);
        })) as StatusApiRoute,
    ];
  } else {
    const list = (await (
      options.allNamespaces
        ? custom.listClusterCustomObject(base)
        : custom.listNamespacedCustomObject({ ...base, namespace })
    ).catch((error: unknown) => {
      throw new Error(`cannot list ApiRoutes: ${describeApiError(error)}`);
    })) as { items: StatusApiRoute[] };
    apiRoutes = list.items;
    if (apiRoutes.length === 0)
      return `No ApiRoutes ${options.allNamespaces ? 'in any namespace' : `in namespace ${namespace}`}.\n`;
  }
  const nowMs = Date.now();
  const windowMs = durationToMs(options.windowText);
  const texts = await Promise.all(
    apiRoutes.map(async (apiRoute) => {
      const ns = apiRoute.metadata.namespace ?? namespace;
      const events = await readEvents(core, ns, apiRoute.metadata.name).catch((error: unknown) => {
        throw new Error(
          `cannot list the Events of ApiRoute ${ns}/${apiRoute.metadata.name}: ${describeApiError(error)}`,
        );
      });
      const prometheus = options.prometheus;
      return formatStatus({
        apiRoute,
        events,
        nowMs,
        ...(prometheus && {
          observed: {
            source: prometheus.description,
            window: options.windowText,
            routes: await observe(prometheus, apiRoute, windowMs, nowMs),
          },
        }),
      });
    }),
  );
  return texts.join('\n');
}

/** Runs the command: 0 on success, 1 on an API failure, 2 on bad usage. */
export async function statusCommand(args: string[]): Promise<number> {
  let options;
  try {
    options = parseStatusFlags(args);
  } catch (error) {
    process.stderr.write(`figway status: ${(error as Error).message}\n${STATUS_USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${STATUS_USAGE}\n`);
    return 0;
  }
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(options.kubeconfig);
  } catch (error) {
    process.stderr.write(`figway status: ${(error as Error).message}\n`);
    return 1;
  }
  if (!options.watch) {
    try {
      process.stdout.write(await render(kc, options));
      return 0;
    } catch (error) {
      process.stderr.write(`figway status: ${(error as Error).message}\n`);
      return 1;
    }
  }
  return watch(kc, options);
}

/**
 * --watch: prints again every WATCH_INTERVAL_MS until SIGINT/SIGTERM. A terminal is
 * cleared before each print; a pipe gets a print only when the text changed. A failed
 * round is shown and retried, as `kubectl get --watch` keeps going.
 */
async function watch(kc: KubeConfig, options: StatusOptions): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let last = '';
  try {
    while (!stop.signal.aborted) {
      let text: string;
      try {
        text = await render(kc, options);
      } catch (error) {
        text = `figway status: ${(error as Error).message} (retrying)\n`;
      }
      if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}`);
      else if (text !== last) process.stdout.write(`${last === '' ? '' : '\n'}${text}`);
      last = text;
      await systemClock.sleep(WATCH_INTERVAL_MS, stop.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}
