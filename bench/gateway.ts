// npm run bench:gateway [-- --rounds N --seconds S --connections C --cpu-prof
//                           --gateway-node-args "--trace-gc …" --baseline REV]
//
// Loads, interleaved over several rounds in one run: nginx (one worker, proxy_pass with
// upstream keepalive), a bare http-proxy-3 proxy, a bare undici proxy (the gateway's engine
// with nothing around it), and the gateway, all in front of the same upstream (an nginx
// returning a small JSON body), and the gateway as it was at --baseline (default: the last
// commit before the request pipeline), so a change's cost is measured in the same run.
// Prints req/s and p50/p99 per target with ratios, the gateway's added p99 over
// a direct connection at half its maximum load, and its peak RSS under load.
//
// Pinning on a 2-core machine: the proxy under test gets CPU 0 to itself; wrk and the
// upstream share CPU 1. Only one target is loaded at a time. Not a test: numbers vary
// with the machine, so the script prints them and the targets, and never fails on them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { buildForBench, buildRevisionForBench, deployedGatewayNodeFlags } from './lib/build.js';

/** The gateway before the request pipeline (plan → stages → exchange, issue 11). */
const PRE_PIPELINE = '843f3d6';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'cpu-prof': { type: 'boolean', default: false },
    /** Node flags for the gateway processes instead of the deployed ones (an experiment). */
    'gateway-node-args': { type: 'string' },
    /** A commit whose gateway is loaded beside today's ('none' to skip). */
    baseline: { type: 'string', default: PRE_PIPELINE },
  },
});
const ROUNDS = Math.min(10, Math.max(1, Number(flags.rounds)));
const SECONDS = Math.min(30, Math.max(1, Number(flags.seconds)));
const CONNECTIONS = Math.min(512, Math.max(1, Number(flags.connections)));
const repo = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'figway-bench-'));
const children: ChildProcess[] = [];

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** nginx and wrk come from Debian; install them when we may, else say how. */
function ensureTools(): void {
  const missing = ['nginx', 'wrk', 'taskset'].filter(
    (c) => !which(c) && !existsSync(`/usr/sbin/${c}`),
  );
  if (missing.length === 0) return;
  if (process.getuid?.() === 0 && which('apt-get')) {
    log(`installing ${missing.join(', ')} (Debian packages nginx, wrk)…`);
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'nginx', 'wrk', 'util-linux'], {
      stdio: 'inherit',
    });
    if (r.status === 0) return;
  }
  log(
    `bench:gateway needs ${missing.join(', ')}: run as root \`apt-get update && apt-get install -y nginx wrk\`, then retry.`,
  );
  process.exit(1);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function start(name: string, cpu: string, cmd: string, args: string[]): ChildProcess {
  const child = spawn('taskset', ['-c', cpu, cmd, ...args], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null && !stopping)
      log(`${name} exited with ${code}: ${err.slice(-500)}`);
  });
  children.push(child);
  return child;
}

async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up in ${timeoutMs} ms`);
}

function nginxConf(dir: string, body: string): string {
  // master_process off: one process does all the work, so its CPU time is the proxy's.
  return `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  ${body}
}
`;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  /** CPU time the proxy process spent per request, in microseconds (NaN when unknown). */
  cpuUs: number;
}

/** utime + stime of a process in milliseconds, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** Runs wrk on CPU 1 without blocking this process, so RSS can be sampled meanwhile. */
function runWrk(
  url: string,
  seconds: number,
  connections: number,
  script?: string,
  pid?: number,
  headers: readonly string[] = [],
): Promise<Result> {
  const cpuBefore = cpuMs(pid);
  const args = [
    '-c',
    '1',
    'wrk',
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '-H',
    'x-user-id: bench-user-7',
    ...headers.flatMap((h) => ['-H', h]),
  ];
  if (script !== undefined) args.push('-s', script);
  args.push(url);
  return new Promise((resolve) => {
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
      const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
      if (errors) log(`  note: ${url}: ${errors[0]}`);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const cpuUs = ((cpuMs(pid) - cpuBefore) * 1000) / requests;
      resolve({ rps, p50, p99, cpuUs });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The process behind a `taskset cmd …` child (taskset execs, so it is the same pid). */
function pidOf(child: ChildProcess): number {
  return child.pid ?? 0;
}

let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => {
  stopAll();
  process.exit(130);
});

/**
 * The shadows the shadow targets add to the benchmarked route: requests the monolith
 * serves (wrk's cohort key lands there) copied to the new service and, for noise
 * cancellation, once more to the monolith, every answer compared. At 10% the cost is
 * measured as it is; at 100% it is a tenfold signal over the noise of a shared machine,
 * and the cost per shadowed request it gives predicts 10% without that noise.
 */
const BENCH_SHADOWS = [
  {
    name: 'gateway shadow-10%',
    shadow: '{ backend: orders, percent: 10, compare: { noiseCancellation: true } }',
  },
  {
    name: 'gateway shadow-100%',
    shadow: '{ backend: orders, percent: 100, compare: { noiseCancellation: true } }',
  },
] as const;

/** A proxy under load: where wrk sends requests, and whose CPU they cost. */
interface Target {
  name: string;
  url: string;
  pid: number;
  /** Whether its peak RSS is reported. */
  rss: boolean;
  /** Extra request headers, e.g. a bearer token. */
  headers?: readonly string[];
  /** For targets on the `gateway` process: the config it serves for this target. */
  config?: string;
}

function headersOf(target: Target): readonly string[] {
  return target.headers ?? [];
}

/**
 * spec.gateway.tracing at the issue's 1% and at 100%, exporting to a loopback OTLP/HTTP
 * sink (traceSink below). wrk sends no traceparent, so the ratio alone decides. Measured
 * on the `gateway` process itself, its config switched before each load (a reload, as
 * the operator would do it): a few percent between two processes of the same build is
 * within what separates them run to run, and this target is 5%.
 */
const BENCH_TRACING = [
  { name: 'gateway tracing-1%', samplingRatio: 0.01 },
  { name: 'gateway tracing-100%', samplingRatio: 1 },
] as const;

/**
 * A loopback OTLP/HTTP receiver that accepts every export and keeps nothing: the bench
 * measures what tracing costs the gateway, not a collector (the tests use a real one).
 */
async function traceSink(): Promise<{ url: string; exports: () => number }> {
  let exports = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, exports: () => exports };
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
}

/** The JWT algorithms benchmarked: a route each, verified with keys from a Secrets file. */
const BENCH_JWT_ALGORITHMS = ['RS256', 'ES256'] as const;

/**
 * One route twice, cached (/c, issue 15) and not (/p), in front of the same answer with
 * Cache-Control: public, max-age=60: a hit against the same route proxied.
 */
const CACHE_ROUTES = ['c', 'p']
  .map(
    (prefix) => `    - name: orders-${prefix === 'c' ? 'cached' : 'proxied'}
      match: { path: { type: PathPrefix, value: /${prefix}/api/orders }, methods: [GET, POST] }
      backends: [{ service: orders, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
      cohort: { header: x-user-id }
      timeout: 5s
${prefix === 'c' ? '      cache: { ttl: 60s, maxBytes: 16Mi }\n' : ''}`,
  )
  .join('');

function gatewayConfig(shadow?: string, policyRoutes = true, tracing?: string): string {
  // A realistic table: several routes of each kind; the benchmarked path is a PathPrefix
  // route with a cohort split, so matching, hashing, splitting and metrics all run.
  const filler = Array.from(
    { length: 8 },
    (_, i) => `    - name: filler-${i}
      match: { path: { type: ${i % 2 ? 'RegularExpression' : 'PathPrefix'}, value: '/svc${i}${i % 2 ? '/[0-9]+' : ''}' } }
      backends: [{ service: orders, port: 80, weight: 10 }, { monolith: true, weight: 90 }]`,
  ).join('\n');
  return `apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: bench, namespace: bench }
spec:
  monolith: { service: legacy, port: 8080 }
${tracing === undefined ? '' : `  gateway: { tracing: ${tracing} }\n`}  routes:
${filler}
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders }, methods: [GET, POST] }
      backends: [{ service: orders, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
      cohort: { header: x-user-id }
      timeout: 5s
${shadow === undefined ? '' : `      shadow: ${shadow}\n`}${(policyRoutes
    ? BENCH_JWT_ALGORITHMS
    : []
  )
    .map(
      (alg) => `    - name: orders-${alg.toLowerCase()}
      match: { path: { type: PathPrefix, value: /${alg.toLowerCase()}/api/orders }, methods: [GET, POST] }
      backends: [{ service: orders, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
      cohort: { header: x-user-id }
      timeout: 5s
      auth:
        jwt:
          issuer: https://id.bench.example
          audiences: [bench]
          jwksSecretRef: { name: bench-jwks, key: jwks.json }
          algorithms: [${alg}]
`,
    )
    .join('')}${(policyRoutes ? ['rl', 'rls'] : [])
    .map(
      (prefix) => `    - name: orders-${prefix}
      match: { path: { type: PathPrefix, value: /${prefix}/api/orders }, methods: [GET, POST] }
      backends: [{ service: orders, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
      cohort: { header: x-user-id }
      timeout: 5s
      # A budget no run reaches: the bench measures what deciding costs, not refusals.
      rateLimit: { requestsPerSecond: 1000000, burst: 1000000, shared: ${prefix === 'rls'} }`,
    )
    .join('\n')}
${policyRoutes ? CACHE_ROUTES : ''}`;
}

function summarizeProfile(dir: string): void {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) {
    log('  (no .cpuprofile written)');
    return;
  }
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: Node[];
    samples: number[];
  };
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const url = node.callFrame.url
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\/.*\/(src|dist)\//, '$1/');
    const key = `${node.callFrame.functionName || '(anonymous)'} ${url}`.trim();
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const byArea = new Map<string, number>();
  for (const [key, hits] of self) {
    const area = /\(idle\)|\(program\)|\(garbage collector\)/.test(key)
      ? (key.split(' ')[0] ?? key)
      : /(src|dist)\/(gateway|common)\//.test(key)
        ? 'figway (gateway, common)'
        : key.includes('undici/')
          ? 'undici'
          : key.includes('prom-client')
            ? 'prom-client'
            : key.includes('node:') || !key.includes('/')
              ? 'node core (http server, net, streams)'
              : 'other';
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }
  log('  self time by area:');
  for (const [area, hits] of [...byArea].sort((a, b) => b[1] - a[1])) {
    log(`    ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${area}`);
  }
  log('  top functions (self time):');
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    log(`    ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
}

async function main(): Promise<void> {
  ensureTools();
  const nginxBin = which('nginx') ? 'nginx' : '/usr/sbin/nginx';
  const ports = {
    upstream: await freePort(),
    nginx: await freePort(),
    hp3: await freePort(),
    undici: await freePort(),
    gateway: await freePort(),
    gatewayAdmin: await freePort(),
    baseline: await freePort(),
    baselineAdmin: await freePort(),
    redis: await freePort(),
  };
  const shadowPorts = await Promise.all(
    BENCH_SHADOWS.map(async () => ({ port: await freePort(), admin: await freePort() })),
  );
  const sink = await traceSink();
  const upstreamUrl = `http://127.0.0.1:${ports.upstream}`;
  for (const d of ['up', 'px']) {
    for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      spawnSync('mkdir', ['-p', join(work, d, t)]);
  }
  writeFileSync(
    join(work, 'up', 'nginx.conf'),
    nginxConf(
      join(work, 'up'),
      // $msec: answers differ from one millisecond to the next, as a timestamp would, so
      // the shadow target compares JSON structurally rather than finding equal bytes.
      `server { listen 127.0.0.1:${ports.upstream}; location / { default_type application/json; return 200 '{"order":42,"status":"shipped","items":3,"at":"$msec"}'; }
    location ~ /cacheable/ { default_type application/json; add_header Cache-Control "public, max-age=60"; return 200 '{"order":42,"status":"shipped","items":3,"at":"$msec"}'; } }`,
    ),
  );
  writeFileSync(
    join(work, 'px', 'nginx.conf'),
    nginxConf(
      join(work, 'px'),
      `upstream up { server 127.0.0.1:${ports.upstream}; keepalive 128; }
  server { listen 127.0.0.1:${ports.nginx};
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    ),
  );
  const configFile = join(work, 'bench.yaml');
  writeFileSync(configFile, gatewayConfig());
  // The JWT routes' keys, as `--api-keys-file` holds Secrets, and one token per algorithm:
  // the same token on every request, as a signed-in client sends it (keys cached).
  const signers = await Promise.all(
    BENCH_JWT_ALGORITHMS.map(async (alg) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: alg, alg };
      const token = await new SignJWT({ sub: 'bench-user-7' })
        .setProtectedHeader({ alg, kid: alg })
        .setIssuer('https://id.bench.example')
        .setAudience('bench')
        .setExpirationTime('2h')
        .sign(privateKey);
      return { alg, jwk, token };
    }),
  );
  const secretsFile = join(work, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'bench-jwks': { 'jwks.json': JSON.stringify({ keys: signers.map((s) => s.jwk) }) },
    }),
  );
  // The baseline's schema predates rateLimit: the same table without the two rate-limit
  // routes (which the benchmarked path never matches).
  const baselineConfigFile = join(work, 'bench-baseline.yaml');
  writeFileSync(baselineConfigFile, gatewayConfig(undefined, false));
  const shadowConfigFiles = BENCH_SHADOWS.map((b, i) => {
    const file = join(work, `bench-shadow-${i}.yaml`);
    writeFileSync(file, gatewayConfig(b.shadow));
    return file;
  });
  const plainConfig = gatewayConfig();
  const tracingConfigs = BENCH_TRACING.map((b) =>
    gatewayConfig(
      undefined,
      true,
      `{ endpoint: '${sink.url}', samplingRatio: ${b.samplingRatio} }`,
    ),
  );
  let appliedConfig = plainConfig;
  /** Has the gateway serve `text` (a reload from its file), unless it already does. */
  const applyConfig = async (text: string): Promise<void> => {
    if (text === appliedConfig) return;
    const readyz = `http://127.0.0.1:${ports.gatewayAdmin}/readyz`;
    const before = await (await fetch(readyz)).text();
    writeFileSync(configFile, text);
    appliedConfig = text;
    const deadline = Date.now() + 10_000;
    while ((await (await fetch(readyz)).text()) === before) {
      if (Date.now() > deadline) throw new Error('the gateway did not reload its config');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const node = process.execPath;
  // The gateway runs as the image runs it: bundled, on bare node (through tsx its module
  // hooks would add a loader thread, and with it tens of MiB of RSS). The bench build
  // transpiles file by file, so unfinished types elsewhere in the tree cannot stop it.
  log('building figway as the image does (bundled)…');
  const entry = [buildForBench().cli, 'gateway'];
  const baselineRev = flags.baseline === 'none' ? undefined : flags.baseline;
  const baselineCli = baselineRev === undefined ? undefined : buildRevisionForBench(baselineRev);
  if (baselineRev !== undefined && baselineCli === undefined)
    log(`baseline ${baselineRev} is not in this clone: its gateway is not measured`);
  // As deployed (the operator's NODE_OPTIONS for default resources), unless overridden.
  const nodeFlags =
    flags['gateway-node-args'] === undefined
      ? deployedGatewayNodeFlags()
      : flags['gateway-node-args'].split(' ').filter((flag) => flag !== '');
  log(`gateway node flags: ${nodeFlags.join(' ')}`);
  const gatewayArgs = (
    port: number,
    admin: number,
    extra: string[] = [],
    cli = entry,
    config = configFile,
  ) => [
    ...nodeFlags,
    ...extra,
    ...cli,
    '--config',
    config,
    '--port',
    String(port),
    '--admin-port',
    String(admin),
    '--host',
    '127.0.0.1',
    '--resolve',
    `legacy=${upstreamUrl}`,
    '--resolve',
    `orders=${upstreamUrl}`,
    '--log-level',
    'warn',
    '--drain-seconds',
    '2',
    // The baseline predates shared rate limits and JWTs: no --redis-url, no keys.
    ...(cli === entry
      ? ['--redis-url', `redis://127.0.0.1:${ports.redis}`, '--api-keys-file', secretsFile]
      : []),
  ];

  log(
    `bench:gateway: ${ROUNDS} rounds × ${SECONDS}s per target, wrk -t1 -c${CONNECTIONS}; proxies on CPU 0, wrk + upstream on CPU 1`,
  );
  start('upstream nginx', '1', nginxBin, [
    '-p',
    join(work, 'up'),
    '-c',
    join(work, 'up', 'nginx.conf'),
  ]);
  // The Redis of the shared rate limit, on the upstream's CPU as a sidecar-free Redis would be.
  start('redis-server', '1', '/usr/bin/redis-server', [
    '--port',
    String(ports.redis),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  const nginxProc = start('nginx', '0', nginxBin, [
    '-p',
    join(work, 'px'),
    '-c',
    join(work, 'px', 'nginx.conf'),
  ]);
  const bareHp3Proc = start('bare http-proxy-3', '0', node, [
    'bench/gateway-bare-http-proxy-3.js',
    String(ports.hp3),
    upstreamUrl,
  ]);
  const bareUndiciProc = start('bare undici', '0', node, [
    'bench/gateway-bare-undici.js',
    String(ports.undici),
    upstreamUrl,
  ]);
  const gateway = start('gateway', '0', node, gatewayArgs(ports.gateway, ports.gatewayAdmin));
  const shadowed = BENCH_SHADOWS.map((b, i) => {
    const { port, admin } = shadowPorts[i] as { port: number; admin: number };
    // Room for a comparison per wrk connection, so the 100% target compares every request.
    const args = [
      ...gatewayArgs(port, admin, [], entry, shadowConfigFiles[i]),
      '--shadow-in-flight',
      '128',
    ];
    return start(b.name, '0', node, args);
  });
  const baseline =
    baselineCli === undefined
      ? undefined
      : start(
          `gateway@${baselineRev}`,
          '0',
          node,
          gatewayArgs(
            ports.baseline,
            ports.baselineAdmin,
            [],
            [baselineCli, 'gateway'],
            baselineConfigFile,
          ),
        );

  const path = '/api/orders/123?expand=items';
  /** Behind /c (cached) and /p (proxied); the upstream answers it with Cache-Control: public, max-age=60. */
  const CACHEABLE_PATH = '/api/orders/cacheable/123?expand=items';
  const targets: Target[] = [
    {
      name: 'nginx',
      url: `http://127.0.0.1:${ports.nginx}${path}`,
      pid: pidOf(nginxProc),
      rss: false,
    },
    {
      name: 'bare http-proxy-3',
      url: `http://127.0.0.1:${ports.hp3}${path}`,
      pid: pidOf(bareHp3Proc),
      rss: false,
    },
    {
      name: 'bare undici',
      url: `http://127.0.0.1:${ports.undici}${path}`,
      pid: pidOf(bareUndiciProc),
      rss: false,
    },
    {
      name: 'gateway',
      url: `http://127.0.0.1:${ports.gateway}${path}`,
      pid: pidOf(gateway),
      rss: true,
      config: plainConfig,
    },
    ...BENCH_SHADOWS.map((b, i) => ({
      name: b.name,
      url: `http://127.0.0.1:${shadowPorts[i]?.port ?? 0}${path}`,
      pid: pidOf(shadowed[i] as ChildProcess),
      rss: true,
    })),
    ...BENCH_TRACING.map((b, i) => ({
      name: b.name,
      url: `http://127.0.0.1:${ports.gateway}${path}`,
      pid: pidOf(gateway),
      rss: false,
      config: tracingConfigs[i] as string,
    })),
    ...(baseline === undefined
      ? []
      : [
          {
            name: `gateway@${baselineRev}`,
            url: `http://127.0.0.1:${ports.baseline}${path}`,
            pid: pidOf(baseline),
            rss: true,
          },
        ]),
    {
      name: 'gateway + rate limit',
      url: `http://127.0.0.1:${ports.gateway}/rl${path}`,
      pid: pidOf(gateway),
      rss: false,
      config: plainConfig,
    },
    {
      name: 'gateway + shared limit',
      url: `http://127.0.0.1:${ports.gateway}/rls${path}`,
      pid: pidOf(gateway),
      rss: false,
      config: plainConfig,
    },
    ...signers.map((s) => ({
      name: `gateway + jwt ${s.alg}`,
      url: `http://127.0.0.1:${ports.gateway}/${s.alg.toLowerCase()}${path}`,
      pid: pidOf(gateway),
      rss: false,
      headers: [`authorization: Bearer ${s.token}`],
      config: plainConfig,
    })),
    ...['cached', 'proxied'].map((kind) => ({
      name: `gateway ${kind}`,
      url: `http://127.0.0.1:${ports.gateway}/${kind[0] ?? ''}${CACHEABLE_PATH}`,
      pid: pidOf(gateway),
      rss: false,
      config: plainConfig,
    })),
  ];
  await waitForHttp(`${upstreamUrl}/`);
  for (const t of targets) {
    await waitForHttp(t.url).catch((error: unknown) => {
      throw new Error(`${t.name}: ${(error as Error).message}`);
    });
  }
  await waitForHttp(`http://127.0.0.1:${ports.gatewayAdmin}/readyz`);

  log('warming up…');
  for (const t of targets) {
    if (t.config !== undefined) await applyConfig(t.config);
    await runWrk(t.url, 2, CONNECTIONS, undefined, undefined, headersOf(t));
  }

  const results = new Map<string, Result[]>(targets.map((t) => [t.name, []]));
  const rss = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round += 1) {
    // Rotate the order so no target always runs first or last.
    const order = targets.map(
      (_, i) => targets[(i + round) % targets.length] as (typeof targets)[number],
    );
    for (const t of order) {
      if (t.config !== undefined) await applyConfig(t.config);
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB(t.pid));
      }, 200);
      const r = await runWrk(t.url, SECONDS, CONNECTIONS, undefined, t.pid, headersOf(t));
      clearInterval(sampler);
      rss.set(t.name, Math.max(rss.get(t.name) ?? 0, peak, rssMiB(t.pid)));
      results.get(t.name)?.push(r);
      log(
        `  round ${round + 1}: ${t.name.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ${r.cpuUs.toFixed(1)} µs CPU/req`,
      );
    }
  }

  const summary = new Map(
    [...results].map(([name, rs]) => [
      name,
      {
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
      },
    ]),
  );
  const nginx = summary.get('nginx') as Result;
  log('');
  log(`medians over ${ROUNDS} rounds:`);
  log(
    `  ${'target'.padEnd(24)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  ×nginx`,
  );
  for (const [name, s] of summary) {
    log(
      `  ${name.padEnd(24)} ${s.rps.toFixed(0).padStart(8)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)}  ${(s.rps / nginx.rps).toFixed(2).padStart(6)}  ${s.cpuUs.toFixed(1).padStart(10)}  ${(nginx.cpuUs / s.cpuUs).toFixed(2).padStart(13)}  ${(rss.get(name) ?? 0).toFixed(0).padStart(7)}`,
    );
  }
  log("  (×nginx by CPU: nginx CPU time per request ÷ the target's, i.e. throughput per core;");
  log('   steadier than req/s when other work shares the machine)');

  // Latency at half of the gateway's maximum load, against a direct connection at the same rate.
  const gw = summary.get('gateway') as Result;
  const half = gw.rps / 2;
  const delayMs = 5;
  const conns = Math.max(1, Math.round((half * delayMs) / 1000));
  const script = join(work, 'pace.lua');
  writeFileSync(script, `function delay() return ${delayMs} end\n`);
  await applyConfig(plainConfig);
  const direct = await runWrk(`${upstreamUrl}${path}`, SECONDS * 2, conns, script);
  const paced = await runWrk(targets[3]?.url ?? '', SECONDS * 2, conns, script);
  const bareUndici = summary.get('bare undici') as Result;
  const bareHp3 = summary.get('bare http-proxy-3') as Result;
  log('');
  log(
    `at half load (${conns} connections × one request per ~${delayMs} ms ≈ ${half.toFixed(0)} req/s):`,
  );
  log(
    `  direct to upstream       ${direct.rps.toFixed(0).padStart(7)} req/s  p50 ${direct.p50.toFixed(2)} ms  p99 ${direct.p99.toFixed(2)} ms`,
  );
  log(
    `  through the gateway      ${paced.rps.toFixed(0).padStart(7)} req/s  p50 ${paced.p50.toFixed(2)} ms  p99 ${paced.p99.toFixed(2)} ms`,
  );
  log('');
  log('targets (issue 3):');
  const check = (ok: boolean, text: string) => {
    log(`  ${ok ? 'MET ' : 'MISS'}  ${text}`);
  };
  check(
    gw.rps >= 0.5 * nginx.rps,
    `gateway ≥ 0.5× nginx: ${(gw.rps / nginx.rps).toFixed(2)}× by req/s, ${(nginx.cpuUs / gw.cpuUs).toFixed(2)}× by CPU per request`,
  );
  check(
    gw.cpuUs <= bareUndici.cpuUs / 0.9,
    `gateway features cost ≤ 10% against its bare engine (undici): ${(100 * (1 - bareUndici.cpuUs / gw.cpuUs)).toFixed(1)}% by CPU per request, ${(100 * (1 - gw.rps / bareUndici.rps)).toFixed(1)}% by req/s`,
  );
  const before = summary.get(`gateway@${baselineRev}`);
  if (before !== undefined) {
    log(
      `        (before, gateway@${baselineRev}: ${(100 * (1 - bareUndici.cpuUs / before.cpuUs)).toFixed(1)}% by CPU per request; this tree ${(100 * (gw.cpuUs / before.cpuUs - 1)).toFixed(1)}% against it)`,
    );
  }
  log(
    `        (engines: bare undici ${(bareHp3.cpuUs / bareUndici.cpuUs).toFixed(2)}× bare http-proxy-3 per core)`,
  );
  check(
    paced.p99 - direct.p99 <= 2,
    `≤ 2 ms added p99 over direct at half load: +${(paced.p99 - direct.p99).toFixed(2)} ms`,
  );
  const shadowResults = await Promise.all(
    BENCH_SHADOWS.map(async (b, i) => {
      const report = (await (
        await fetch(`http://127.0.0.1:${shadowPorts[i]?.admin ?? 0}/shadow`)
      ).json()) as { routes: { requests: Record<string, number> }[] };
      return { result: summary.get(b.name) as Result, requests: report.routes[0]?.requests };
    }),
  );
  const [ten, hundred] = shadowResults as [
    (typeof shadowResults)[number],
    (typeof shadowResults)[number],
  ];
  const perShadowed = hundred.result.cpuUs - gw.cpuUs;
  const predicted = (100 * (0.1 * perShadowed)) / gw.cpuUs;
  check(
    predicted <= 15,
    `shadow at 10% with comparison (noise cancellation on: two copies) costs ≤ 15% CPU per client request over shadow off: +${predicted.toFixed(1)}% from shadow-100% (${perShadowed.toFixed(1)} µs per shadowed request over ${gw.cpuUs.toFixed(1)} µs); measured at 10%: +${(100 * (ten.result.cpuUs / gw.cpuUs - 1)).toFixed(1)}% (${ten.result.cpuUs.toFixed(1)} µs), ${(100 * (1 - ten.result.rps / gw.rps)).toFixed(1)}% by req/s`,
  );
  log(
    `        (results at 10%: ${JSON.stringify(ten.requests ?? {})}; at 100%: ${JSON.stringify(hundred.requests ?? {})})`,
  );
  const limited = summary.get('gateway + rate limit') as Result;
  const shared = summary.get('gateway + shared limit') as Result;
  check(
    limited.cpuUs <= gw.cpuUs * 1.05,
    `a per-replica rate limit costs ≤ 5% (issue 14): ${(100 * (limited.cpuUs / gw.cpuUs - 1)).toFixed(1)}% by CPU per request`,
  );
  log(
    `        (shared limit, local Redis: ${signed(shared.p50 - gw.p50)} ms p50, ${signed(shared.p99 - gw.p99)} ms p99, ${signed(100 * (shared.cpuUs / gw.cpuUs - 1))}% CPU per request over the plain route)`,
  );
  for (const { alg } of signers) {
    const jwt = summary.get(`gateway + jwt ${alg}`) as Result;
    check(
      jwt.cpuUs <= gw.cpuUs * 1.2,
      `a JWT-checked route (${alg}, cached keys) costs ≤ 20% over the same route without auth (issue 14): ${signed(100 * (jwt.cpuUs / gw.cpuUs - 1))}% by CPU per request (${jwt.cpuUs.toFixed(1)} against ${gw.cpuUs.toFixed(1)} µs)`,
    );
  }
  const cached = summary.get('gateway cached') as Result;
  const proxied = summary.get('gateway proxied') as Result;
  check(
    cached.rps >= 2 * proxied.rps,
    `a cache hit serves ≥ 2× the req/s of the same route proxied (issue 15): ${(cached.rps / proxied.rps).toFixed(2)}× (${cached.rps.toFixed(0)} against ${proxied.rps.toFixed(0)} req/s), ${(proxied.cpuUs / cached.cpuUs).toFixed(2)}× by CPU per request`,
  );
  const [onePercent, allTraced] = BENCH_TRACING.map((b) => summary.get(b.name) as Result) as [
    Result,
    Result,
  ];
  check(
    onePercent.cpuUs <= gw.cpuUs * 1.05,
    `tracing at 1% sampling costs ≤ 5% CPU per request over tracing off (issue 15): ${signed(100 * (onePercent.cpuUs / gw.cpuUs - 1))}% (${onePercent.cpuUs.toFixed(1)} µs over ${gw.cpuUs.toFixed(1)} µs), ${signed(100 * (1 - onePercent.rps / gw.rps))}% by req/s`,
  );
  const droppedAtFull =
    /^figway_gateway_trace_spans_dropped_total\{reason="queue_full"\} (\S+)$/m.exec(
      await (await fetch(`http://127.0.0.1:${ports.gatewayAdmin}/metrics`)).text(),
    )?.[1];
  log(
    `        (at 100%: ${signed(100 * (allTraced.cpuUs / gw.cpuUs - 1))}% CPU per request (${allTraced.cpuUs.toFixed(1)} µs), ${signed(100 * (1 - allTraced.rps / gw.rps))}% by req/s; ${sink.exports()} OTLP exports received, ${droppedAtFull ?? '?'} spans dropped on a full queue)`,
  );
  const peak = rss.get('gateway') ?? 0;
  check(peak > 0 && peak < 120, `RSS < 120 MiB under load: peak ${peak.toFixed(0)} MiB`);

  if (flags['cpu-prof']) {
    log('');
    log('CPU profile of the gateway under load:');
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
    const profDir = join(work, 'prof');
    const port = await freePort();
    const admin = await freePort();
    const profiled = start(
      'gateway (profiled)',
      '0',
      node,
      gatewayArgs(port, admin, ['--cpu-prof', '--cpu-prof-dir', profDir]),
    );
    const url = `http://127.0.0.1:${port}${path}`;
    await waitForHttp(url);
    await runWrk(url, 2, CONNECTIONS);
    await runWrk(url, SECONDS, CONNECTIONS);
    profiled.kill('SIGTERM');
    await new Promise((r) => profiled.once('exit', r));
    summarizeProfile(profDir);
  }
}

main()
  .catch((error: unknown) => {
    log(`bench:gateway failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    stopAll();
    rmSync(work, { recursive: true, force: true });
  });
