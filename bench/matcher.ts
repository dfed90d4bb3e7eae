// `npm run bench:matcher` (issue 18, gateway part): route matching cost against the number
// of routes, the time to apply a 1,000-route config, memory per route, and a 1,000-route
// reload under load.
//
//   1. Tables of 1, 100 and 1,000 routes (PathPrefix, Exact, {name} templates, with
//      methods and headers on some, and the same two RegularExpression routes in each);
//      the same request mix (PathPrefix hits spread over the table, 5% for a regex route,
//      5% unmatched) through `matcher.match` and
//      through `planRequest` (everything the gateway decides per request before its
//      upstream I/O: target parse, path normalisation, match, split, headers). Rounds
//      interleave the sizes, so load on the machine hits them alike; the median per size
//      and its ratio to 1 route are printed (target: within 5%).
//   2. Applying a 1,000-route config: compileRouteTable + buildRuntime (which compiles the
//      matcher), median of several, and V8 heap per route (after a forced GC).
//   3. A real gateway (in this process, on 127.0.0.1) serving a 1,000-route config under
//      a bounded load while the config is swapped between two 1,000-route tables: failed
//      requests (target 0) and each apply's time.
//
// One ApiRoute may list at most MAX_ROUTES (100) routes; the 1,000-route tables here are
// ten validated ApiRoutes' routes compiled as one, to show the gateway's headroom.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';

import {
  compileRouteTable,
  MAX_ROUTES,
  validateApiRoute,
  type ApiRoute,
  type RouteTable,
} from '../src/api/index.js';
import { createLogger } from '../src/common/logger.js';
import { compileMatcher, type MatchInput } from '../src/gateway/matcher.js';
import { planRequest, type RequestHead } from '../src/gateway/plan.js';
import { applyServiceOverrides } from '../src/gateway/resolve.js';
import { buildRuntime, type Runtime } from '../src/gateway/runtime.js';
import { Gateway } from '../src/gateway/server.js';
import { UndiciEngine } from '../src/gateway/engine-undici.js';
import { GatewayMetrics } from '../src/gateway/metrics.js';
import { CacheRegistry } from '../src/gateway/cache/registry.js';
import { GrpcChannels } from '../src/gateway/grpc/channels.js';
import { SecretStore } from '../src/gateway/secret-store.js';
import { RateLimits } from '../src/gateway/rate-limits.js';
import { ShadowRegistry } from '../src/gateway/shadow/registry.js';
import { LoadLoop } from './lib/load.js';
import { loadAverage, machine, table as textTable, verdict } from './lib/stats.js';
import { startUpstream } from './lib/upstream.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    /** Requests of the mix per round and size. */
    requests: { type: 'string', default: '200000' },
    'reload-seconds': { type: 'string', default: '10' },
    'reload-rate': { type: 'string', default: '500' },
  },
});
const ROUNDS = Number(flags.rounds);
const REQUESTS = Number(flags.requests);
const RELOAD_MS = Number(flags['reload-seconds']) * 1000;
const RELOAD_RATE = Number(flags['reload-rate']);
if (!(ROUNDS >= 1 && REQUESTS >= 1000 && RELOAD_MS >= 1000 && RELOAD_RATE >= 1)) {
  throw new Error('--rounds >= 1, --requests >= 1000, --reload-seconds >= 1, --reload-rate >= 1');
}
/** Table sizes, and how many of their prefix routes the requests spread over (0: all). */
const CASES = [
  { count: 1, spread: 0 },
  { count: 100, spread: 0 },
  { count: 1000, spread: 0 },
  // The same table with the requests on one route: what the table's size costs without
  // the cost of touching 600 routes' objects (the CPU caches).
  { count: 1000, spread: 1 },
];
const SERVICES = 10;

/** Route i of a table: mostly prefixes (with a method and a header), some Exact, templates. */
function route(i: number, weight: number): Record<string, unknown> {
  const backends = [
    { service: `svc${i % SERVICES}`, port: 80, weight },
    { monolith: true, weight: 100 - weight },
  ];
  const kind = i % 10;
  const path =
    kind < 6
      ? { type: 'PathPrefix', value: `/s${i}/api` }
      : kind < 8
        ? { type: 'Exact', value: `/s${i}/health` }
        : { type: 'PathPrefix', value: `/s${i}/items/{id}` };
  return {
    name: `r${i}`,
    // Every prefix route checks a method and a header, so a request does the same work
    // whichever route claims it: only the table's size differs between the sizes.
    match: {
      path,
      ...(kind < 6 && {
        methods: ['GET', 'POST'],
        headers: [{ name: 'x-tenant', value: 'beta' }],
      }),
    },
    backends,
  };
}

/** The two regex routes every table ends with (they rank after every other route). */
const REGEX_ROUTES = [
  { type: 'RegularExpression', value: '/legacy/[a-z]+/[0-9]+' },
  { type: 'RegularExpression', value: '/v[0-9]+/.*' },
].map((path, k) => ({
  name: `re${k}`,
  match: { path },
  backends: [{ service: 'svc0', port: 80, weight: 100 }],
}));

/** A table of `count` routes (plus the two regexes): ApiRoutes of at most 100, compiled as one. */
function routeTable(count: number, weight = 10): RouteTable {
  const specs = [...Array.from({ length: count }, (_, i) => route(i, weight)), ...REGEX_ROUTES];
  const routes: ApiRoute['spec']['routes'] = [];
  let first: ApiRoute | undefined;
  for (let at = 0; at < specs.length; at += MAX_ROUTES) {
    const result = validateApiRoute({
      apiVersion: 'figway.dev/v1alpha1',
      kind: 'ApiRoute',
      metadata: { name: 'bench', namespace: 'shop' },
      spec: {
        monolith: { service: 'legacy', port: 8080 },
        routes: specs.slice(at, at + MAX_ROUTES),
      },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    first ??= result.value;
    routes.push(...result.value.spec.routes);
  }
  const apiRoute = first as ApiRoute;
  return compileRouteTable({ ...apiRoute, spec: { ...apiRoute.spec, routes } });
}

/**
 * The request mix for a table of `count` routes, the same shapes whatever the count (so
 * only the table's size differs): 90% hits on PathPrefix routes spread over the table,
 * 5% for a regex route, 5% unmatched.
 */
function requestMix(
  count: number,
  spread: number,
): { url: string; method: string; headers: Record<string, string> }[] {
  const prefixRoutes = Array.from({ length: count }, (_, i) => i)
    .filter((i) => i % 10 < 6)
    .slice(0, spread || undefined);
  const mix = [];
  for (let k = 0; k < 1000; k += 1) {
    const i = prefixRoutes[(k * 7919) % prefixRoutes.length] as number;
    const headers: Record<string, string> = { host: 'shop.example', 'x-tenant': 'beta' };
    const url =
      k % 20 === 9
        ? `/legacy/cart/${k}`
        : k % 20 === 19
          ? `/nowhere/${k}/x`
          : `/s${i}/api/orders/${k}?page=2`;
    mix.push({ url, method: k % 3 === 0 ? 'POST' : 'GET', headers });
  }
  return mix;
}

function matchInputs(count: number, spread: number): MatchInput[] {
  return requestMix(count, spread).map(({ url, method, headers }) => {
    const q = url.indexOf('?');
    return {
      method,
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      headers,
    };
  });
}

function requestHeads(count: number, spread: number): RequestHead[] {
  return requestMix(count, spread).map(({ url, method, headers }) => ({
    method,
    url,
    headers,
    rawHeaders: Object.entries(headers).flat(),
    peer: '10.0.0.7',
    encrypted: false,
    requestId: 'bench',
    random: 0.5,
  }));
}

const metrics = new GatewayMetrics({
  inFlight: () => 0,
  websockets: () => 0,
  defaultMetrics: false,
});
const engine = new UndiciEngine();
const logger = createLogger({ component: 'bench', silent: true });
const services = {
  logger,
  accessLogger: logger,
  shadows: new ShadowRegistry(engine, metrics),
  rateLimits: new RateLimits({ logger, metrics }),
  secrets: new SecretStore(),
  caches: new CacheRegistry(engine, metrics),
  grpcChannels: new GrpcChannels(),
};

/** What a gateway's applyTable builds for a table (its pools start empty here). */
function runtimeOf(t: RouteTable): Runtime {
  return buildRuntime(t, t.hash, engine, metrics, new Map(), services);
}

/** Operations per second of `fn` over `n` calls. */
function rate(n: number, fn: (k: number) => void): number {
  const start = performance.now();
  for (let k = 0; k < n; k += 1) fn(k);
  return n / ((performance.now() - start) / 1000);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function matchingCost() {
  const cases = CASES.map(({ count, spread }) => {
    const t = routeTable(count);
    return {
      count,
      matcher: compileMatcher(t),
      runtime: runtimeOf(t),
      label: spread > 0 ? `${count} (requests on ${spread})` : String(count),
      spreadOver: spread,
      inputs: matchInputs(count, spread),
      heads: requestHeads(count, spread),
      matches: [] as number[],
      plans: [] as number[],
      claimed: 0,
    };
  });
  for (const c of cases) {
    c.claimed = c.inputs.filter((input) => c.matcher.match(input) >= 0).length / c.inputs.length;
  }
  let sink = 0;
  for (let round = 0; round <= ROUNDS; round += 1) {
    for (const c of cases) {
      const m = rate(REQUESTS, (k) => (sink += c.matcher.match(c.inputs[k % 1000] as MatchInput)));
      const p = rate(REQUESTS / 4, (k) => {
        sink += planRequest(c.runtime, c.heads[k % 1000] as RequestHead).kind.length;
      });
      if (round > 0) {
        // round 0 warms the JIT up
        c.matches.push(m);
        c.plans.push(p);
      }
    }
  }
  if (sink === 0.5) console.log(sink); // keeps the loops from being optimised away
  const base = cases[0] as (typeof cases)[number];
  const rows = [
    ['routes', 'matches/s', 'vs 1 route', 'plans/s (req/s before I/O)', 'vs 1 route', 'claimed'],
  ];
  const worst = { matches: 0, plans: 0 };
  for (const c of cases) {
    const mr = median(c.matches) / median(base.matches);
    const pr = median(c.plans) / median(base.plans);
    if (c.spreadOver === 0) {
      worst.matches = Math.max(worst.matches, Math.abs(1 - mr));
      worst.plans = Math.max(worst.plans, Math.abs(1 - pr));
    }
    rows.push([
      c.label,
      Math.round(median(c.matches)).toLocaleString('en'),
      `${mr.toFixed(3)}×`,
      Math.round(median(c.plans)).toLocaleString('en'),
      `${pr.toFixed(3)}×`,
      `${Math.round(c.claimed * 100)}%`,
    ]);
  }
  const perMatchUs = (c: (typeof cases)[number]) => 1e6 / median(c.matches);
  const largest = cases[2] as (typeof cases)[number];
  return { rows, worst, extraUs: perMatchUs(largest) - perMatchUs(base) };
}

function applyCost() {
  const times: number[] = [];
  const compileTimes: number[] = [];
  for (let i = 0; i < ROUNDS + 1; i += 1) {
    const start = performance.now();
    const t = routeTable(1000, i % 2 === 0 ? 10 : 20);
    const compiled = performance.now();
    runtimeOf(t);
    const end = performance.now();
    if (i > 0) {
      times.push(end - start);
      compileTimes.push(compiled - start);
    }
  }
  // Memory: a table's runtime kept alive, measured after a full GC.
  const t1 = routeTable(1);
  const t1000 = routeTable(1000);
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept1 = runtimeOf(t1);
  gc();
  const one = process.memoryUsage().heapUsed;
  const kept1000 = runtimeOf(t1000);
  gc();
  const thousand = process.memoryUsage().heapUsed;
  if (kept1.routes.length + kept1000.routes.length === 0) throw new Error('unreachable');
  const perRoute = (thousand - one - (one - before)) / 999;
  return { apply: median(times), compile: median(compileTimes), perRoute };
}

async function reloadUnderLoad() {
  const services = await Promise.all(
    Array.from({ length: SERVICES + 1 }, (_, i) =>
      startUpstream(i < SERVICES ? `svc${i}` : 'legacy'),
    ),
  );
  const overrides = new Map(services.map((u) => [u.name, u.url]));
  const gw = new Gateway({ logger, defaultMetrics: false });
  const tables = [routeTable(1000, 10), routeTable(1000, 50)];
  const apply = (t: RouteTable) => gw.applyTable(t, applyServiceOverrides(t, overrides));
  apply(tables[0] as RouteTable);
  const port = await gw.listen(0, '127.0.0.1');
  const load = new LoadLoop({
    url: `http://127.0.0.1:${port}/s500/api/orders/1`,
    rate: RELOAD_RATE,
    maxInFlight: 64,
    maxRequests: Math.ceil((RELOAD_RATE * RELOAD_MS) / 1000),
    maxDurationMs: RELOAD_MS,
    onResponse: () => undefined,
  });
  load.start();
  const applyTimes: number[] = [];
  const started = performance.now();
  for (let k = 1; performance.now() - started < RELOAD_MS - 500; k += 1) {
    await new Promise((r) => setTimeout(r, 250));
    const start = performance.now();
    const result = apply(tables[k % 2] as RouteTable);
    applyTimes.push(performance.now() - start);
    if (result !== 'success') throw new Error(`reload ${k}: ${result}`);
  }
  await load.done;
  const stats = load.stats;
  await gw.shutdown(1000);
  for (const u of services) await u.close();
  return { stats, failed: load.failed, applyTimes };
}

async function main() {
  console.log(`machine: ${machine()}; load average ${loadAverage()}`);
  const matching = matchingCost();
  const applied = applyCost();
  const reload = await reloadUnderLoad();
  const errors = [...reload.stats.errors, ...reload.stats.badStatus].map(([k, v]) => `${k}: ${v}`);
  console.log(`\nFigway matcher benchmark; load average at the end ${loadAverage()}\n`);
  console.log(textTable(matching.rows));
  const { worst } = matching;
  console.log(
    `matching at 1,000 routes costs ${matching.extraUs.toFixed(3)} µs per request more than at 1 (a linear scan would grow with every route); the row with all requests on one route shows how much of that is touching more routes' objects (CPU caches) rather than the table's size`,
  );
  console.log(
    `\n1, 100, 1,000 routes, worst difference from 1 route: matches/s ${(worst.matches * 100).toFixed(1)}% (target within 5%: ${verdict(worst.matches <= 0.05)}), plans/s ${(worst.plans * 100).toFixed(1)}%`,
  );
  console.log(
    `1,000-route config applied (compileRouteTable + buildRuntime with compileMatcher): ${applied.apply.toFixed(1)} ms median, of which compileRouteTable ${applied.compile.toFixed(1)} ms (target < 100 ms: ${verdict(applied.apply < 100)})`,
  );
  console.log(
    `V8 heap per route (runtime of a 1,000-route table, after GC): ${(applied.perRoute / 1024).toFixed(2)} KiB`,
  );
  const sortedApply = [...reload.applyTimes].sort((a, b) => a - b);
  console.log(
    `reload under load: ${reload.applyTimes.length} swaps of a 1,000-route config while ${reload.stats.sent} requests ran at ${RELOAD_RATE}/s; failed ${reload.failed}${errors.length > 0 ? ` (${errors.join(', ')})` : ''}, skipped ${reload.stats.skipped} (target 0 failed: ${verdict(reload.failed === 0)}); apply time median ${median(sortedApply).toFixed(1)} ms, max ${(sortedApply.at(-1) ?? 0).toFixed(1)} ms`,
  );
}

await main();
