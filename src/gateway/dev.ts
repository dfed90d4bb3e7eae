// `figway dev` (npm start): the strangler fig in one command, no cluster. A demo monolith
// and a demo new service on loopback, a gateway in front of them serving the embedded
// example ApiRoute, the URLs and curl lines to try, and a running count of who served.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { GATEWAY_DEFAULTS, type RouteTable } from '../api/index.js';
import { createLogger } from '../common/logger.js';
import { close, listenPreferred } from '../common/net.js';
import { intFlag } from '../common/flags.js';
import { onStopSignal } from '../common/signals.js';
import { FileConfigSource, routeTableFromYaml, type ConfigSource } from './config-source.js';
import { DEV_API_KEYS, DEV_APIROUTE_YAML, DEV_PARTNER_KEY } from './dev-config.js';
import { StaticSecretSource } from './secret-source.js';
import { SecretStore } from './secret-store.js';
import { startGateway } from './command.js';
import { SHADOW_HEADER } from './shadow/comparison.js';

/** Where the demo backends answer with Cache-Control: the demo's cached route. */
const DEMO_CACHEABLE = '/api/catalog';

export const DEV_USAGE = `usage: figway dev [options]

Runs a demo monolith, a demo new service and a gateway splitting traffic between them.

  --config FILE         serve this ApiRoute instead of the built-in demo (reloaded on change)
  --port N              gateway port (default ${GATEWAY_DEFAULTS.port}, or a free one when taken)
  --admin-port N        /metrics, /readyz (default ${GATEWAY_DEFAULTS.adminPort}, or a free one)
  --monolith-port N     demo monolith (default 3002, or a free one)
  --service-port N      demo new service (default 3001, or a free one)
  --report-seconds N    how often the served counts are printed when they change (default 3)
  --migrate             run the migration autopilot on the demo: steps of seconds, judged on
                        the gateway's own metrics, each printed with its verdict and counts
  --new-error-ratio F   share of requests the demo new service fails with 500 (0 to 1, default 0)
`;

/** What `--migrate` needs from the running demo; cli.ts plugs in the operator's autopilot. */
export interface DevMigrationContext {
  apiRouteYaml: string;
  gatewayUrl: string;
  metricsUrl: string;
  publish(table: RouteTable): void;
  out(line: string): void;
}

export type DevMigration = (context: DevMigrationContext) => { stop(): Promise<void> };

/** A config source for a fixed YAML text: loads once, changes only when published to. */
class StaticConfigSource implements ConfigSource {
  readonly description = 'built-in demo (examples/dev/apiroute.yaml)';
  private onConfig: ((table: RouteTable) => void) | undefined;
  constructor(private readonly yaml: string) {}
  /** Serves another table (the autopilot's next weight). */
  publish(table: RouteTable): void {
    this.onConfig?.(table);
  }
  start(onConfig: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    this.onConfig = onConfig;
    try {
      onConfig(routeTableFromYaml(this.yaml, 'examples/dev/apiroute.yaml'));
    } catch (error) {
      onError(error as Error);
    }
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

interface DemoServer {
  server: Server;
  /** Requests from clients, through the split. */
  served: number;
  /** Shadow copies the gateway sent on its own account. */
  copies: number;
  port: number;
}

/**
 * A stand-in backend that says who it is, so every answer shows which side served. Both
 * sides render the same order, with a timestamp that differs on every call; the new
 * service rounds the total, the one real difference the shadow comparison should find.
 * It answers 500 to `failRatio` of its client requests, spread evenly (every fifth at 0.2).
 */
function demoServer(label: string, flavour: string, total: number, failRatio = 0): DemoServer {
  const demo: DemoServer = {
    served: 0,
    copies: 0,
    port: 0,
    server: createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      if (req.headers[SHADOW_HEADER] !== undefined) demo.copies += 1;
      else {
        demo.served += 1;
        if (Math.floor(demo.served * failRatio) > Math.floor((demo.served - 1) * failRatio)) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(
            `${JSON.stringify({ servedBy: label, error: 'demo failure (--new-error-ratio)' })}\n`,
          );
          return;
        }
      }
      const body = `${JSON.stringify({
        servedBy: label,
        note: flavour,
        method: req.method,
        path: req.url,
        user: req.headers['x-user-id'] ?? null,
        requestId: req.headers['x-request-id'] ?? null,
        timestamp: performance.timeOrigin + performance.now(),
        total,
      })}\n`;
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // The demo's catalogue may be cached (the catalog route of the demo ApiRoute).
        ...(req.url?.startsWith(DEMO_CACHEABLE) === true && {
          'cache-control': 'public, max-age=10',
        }),
      });
      res.end(body);
    }),
  };
  return demo;
}

export async function devCommand(args: string[], migration?: DevMigration): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        'monolith-port': { type: 'string' },
        'service-port': { type: 'string' },
        'report-seconds': { type: 'string' },
        migrate: { type: 'boolean' },
        'new-error-ratio': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`figway dev: ${(error as Error).message}\n${DEV_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(DEV_USAGE);
    return 0;
  }
  let ports: {
    gateway: number;
    admin: number;
    monolith: number;
    service: number;
    reportMs: number;
  };
  try {
    ports = {
      gateway: intFlag('port', values.port, GATEWAY_DEFAULTS.port, 0, 65535),
      admin: intFlag('admin-port', values['admin-port'], GATEWAY_DEFAULTS.adminPort, 0, 65535),
      monolith: intFlag('monolith-port', values['monolith-port'], 3002, 0, 65535),
      service: intFlag('service-port', values['service-port'], 3001, 0, 65535),
      reportMs: intFlag('report-seconds', values['report-seconds'], 3, 1, 3600) * 1000,
    };
  } catch (error) {
    process.stderr.write(`figway dev: ${(error as Error).message}\n`);
    return 2;
  }
  const failRatio = Number(values['new-error-ratio'] ?? 0);
  if (values['new-error-ratio']?.trim() === '' || !(failRatio >= 0 && failRatio <= 1)) {
    process.stderr.write(
      `figway dev: --new-error-ratio must be a number from 0 to 1, got ${JSON.stringify(values['new-error-ratio'])}\n`,
    );
    return 2;
  }
  if (values.migrate === true && (values.config !== undefined || migration === undefined)) {
    process.stderr.write(
      `figway dev: --migrate runs the built-in demo${values.config !== undefined ? ': it cannot be combined with --config' : ', which this build lacks'}\n`,
    );
    return 2;
  }

  const host = '127.0.0.1';
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const monolith = demoServer('monolith', 'legacy-shop: the monolith being strangled', 41.99);
  const service = demoServer('orders', 'the new orders microservice', 42, failRatio);
  monolith.port = await listenPreferred(monolith.server, ports.monolith, host);
  service.port = await listenPreferred(service.server, ports.service, host);

  // The demo ApiRoute names Services; point them at the demo servers. With --config,
  // every Service in the file goes to the new-service demo except the monolith's.
  const yaml = DEV_APIROUTE_YAML;
  const demo = new StaticConfigSource(yaml);
  const source: ConfigSource =
    values.config !== undefined ? new FileConfigSource(values.config) : demo;
  const overrides = new Map<string, string>();
  let logged = false;
  const serviceUrl = `http://${host}:${service.port}`;
  const monolithUrl = `http://${host}:${monolith.port}`;
  const resolveAll = (table: RouteTable) => {
    if (table.monolith.service !== undefined) overrides.set(table.monolith.service, monolithUrl);
    for (const route of table.routes) {
      for (const b of route.backends) {
        if (!b.monolith && b.service !== undefined && !overrides.has(b.service))
          overrides.set(b.service, serviceUrl);
      }
    }
  };
  resolveAll(routeTableFromYaml(yaml, 'examples/dev/apiroute.yaml'));
  const logger = createLogger({ component: 'gateway', level: 'warn' });
  let table: RouteTable | undefined;
  const wrapped: ConfigSource = {
    description: source.description,
    start: (onConfig, onError) =>
      source.start((t) => {
        resolveAll(t);
        onConfig(t);
      }, onError),
    stop: () => source.stop(),
  };
  const secrets = new SecretStore();
  const secretSource = new StaticSecretSource(
    new Map(Object.entries(DEV_API_KEYS)),
    secrets,
    (error) => {
      logger.warn('a demo Secret was not applied', { error: error.message });
    },
    'built-in demo keys',
  );
  const launch = (port: number, adminPort: number) =>
    startGateway({
      source: wrapped,
      secrets,
      secretSource,
      port,
      adminPort,
      host,
      overrides,
      logger,
      fixedLogLevel: true,
      onApplied: (t) => {
        table = t;
        if (logged) out(`config applied: ${describeRoutes(t)}`);
      },
    });
  const running = await launch(ports.gateway, ports.admin).catch((error: unknown) => {
    // A taken port: fall back to free ones rather than fail the demo.
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return launch(0, 0);
  });
  logged = true;

  const gw = `http://${host}:${running.port}`;
  const admin = `http://${host}:${running.admin.port}`;
  out('figway dev: a strangler-fig gateway in front of a demo monolith and a demo new service');
  out('');
  out(`  gateway      ${gw}`);
  out(`  admin        ${admin}/metrics  ${admin}/readyz  ${admin}/shadow.html`);
  out(`  monolith     ${monolithUrl}   (Service legacy-shop)`);
  out(`  new service  ${serviceUrl}   (Service orders)`);
  out(`  config       ${source.description}`);
  if (table !== undefined) out(`  routes       ${describeRoutes(table)}`);
  out('');
  out('Try:');
  out(
    `  curl -i ${gw}/api/orders -H 'x-user-id: alice'        # alice always lands on the same side`,
  );
  out(`  for u in $(seq 1 20); do curl -s ${gw}/api/orders/$u -H "x-user-id: user-$u"; done`);
  out(`  curl -i ${gw}/api/orders -H 'x-figway-force: new'     # force a side (or: monolith)`);
  out(
    `  curl -s ${gw}/api/orders/42/summary                  # composed: the order from the new service, its invoice from the monolith`,
  );
  out(`  curl -i ${gw}/products                               # no route claims it: the monolith`);
  out(
    `  curl -i --path-as-is ${gw}/products/../api/orders -H 'x-figway-force: new'  # normalised first: routed as /api/orders`,
  );
  out(
    `  curl -i --path-as-is ${gw}/../etc/passwd              # climbs above the root: 400 from the gateway`,
  );
  out(`  curl -i ${gw}/api/partner/orders                     # no API key: 401 from the gateway`);
  out(
    `  curl -i ${gw}/api/partner/orders -H 'x-api-key: ${DEV_PARTNER_KEY}'  # partner-app; RateLimit: what is left`,
  );
  out(
    `  for i in $(seq 1 6); do curl -s -o /dev/null -w '%{http_code} ' ${gw}/api/partner/orders -H 'x-api-key: ${DEV_PARTNER_KEY}'; done; echo  # 4 pass, then 429`,
  );
  out(
    `  curl -si ${gw}${DEMO_CACHEABLE} | grep -i -e x-figway-cache -e age   # twice: a miss, then a cache hit`,
  );
  out(`  curl -s ${admin}/metrics | grep figway_gateway_route`);
  out(
    `  curl -s ${admin}/shadow                                 # what the new service answers differently`,
  );
  out('');
  out('The x-figway-backend response header names the side that served. Ctrl-C stops.');
  let autopilot: { stop(): Promise<void> } | undefined;
  if (values.migrate === true && migration !== undefined) {
    out('');
    autopilot = migration({
      apiRouteYaml: yaml,
      gatewayUrl: gw,
      metricsUrl: `${admin}/metrics`,
      publish: (t) => {
        demo.publish(t);
      },
      out,
    });
  }

  let last = '';
  const report = setInterval(() => {
    const line = `served: monolith ${monolith.served}, new service ${service.served}`;
    if (line === last) return;
    last = line;
    const total = monolith.served + service.served;
    const copies = monolith.copies + service.copies;
    out(
      `${line} (${total > 0 ? Math.round((100 * service.served) / total) : 0}% new); shadow copies ${copies}`,
    );
  }, ports.reportMs);

  return new Promise<number>((resolve) => {
    onStopSignal(() => {
      clearInterval(report);
      out('stopping…');
      void (async () => {
        await autopilot?.stop();
        await running.stop(2000);
        monolith.server.closeAllConnections();
        service.server.closeAllConnections();
        await Promise.all([close(monolith.server), close(service.server)]);
        out(`stopped. served: monolith ${monolith.served}, new service ${service.served}`);
        resolve(0);
      })();
    });
  });
}

function describeRoutes(table: RouteTable): string {
  const routes = table.routes.map(
    (r) =>
      `${r.name} ${r.match.path.value} → ${r.compose ? `composed from ${r.backends.map((b) => b.name).join(' + ')}` : `${r.newServicePercent}% new`}`,
  );
  return routes.length > 0
    ? `${routes.join('; ')}; everything else → monolith`
    : 'none: everything → monolith';
}
