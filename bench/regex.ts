// `npm run bench:regex` (issue 11): which regular expression engine the gateway matches
// routes with. Each candidate runs in its own Node process (so one engine's V8 flags and
// JIT state cannot touch another's) on the same patterns and inputs:
//   - typical route patterns (paths, header and query values): ns per anchored match, and
//     the ratio to V8's own backtracking engine, which Figway used before;
//   - the pathological route `/(a+)+$` on a 33- and a 10,000-character path that does not
//     match: how long one request holds the event loop.
// Every engine must give the same answers on the typical inputs; a disagreement is printed.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';

import { loadAverage, machine, table } from './lib/stats.js';

/** One anchored test: the whole value must match, as Gateway API route matches do. */
type Test = (value: string) => boolean;

interface Engine {
  description: string;
  /** Node flags the engine's process starts with. */
  nodeFlags: string[];
  /** Compiles a pattern, as a route author writes it, into an anchored test. */
  load(): Promise<(source: string) => Test>;
  /** Whether the pathological input can be run to the end (else it is extrapolated). */
  linear: boolean;
}

const ENGINES: Record<string, Engine> = {
  'v8-backtracking': {
    description: "V8's default engine (Figway's matcher before issue 11)",
    nodeFlags: [],
    linear: false,
    load: () => Promise.resolve((source) => RegExp.prototype.test.bind(anchoredRegExp(source))),
  },
  'v8-linear': {
    description: "V8's experimental linear engine: the `l` flag, enabled at run time",
    nodeFlags: [],
    linear: true,
    load: () => {
      // What a bundled image or a jest worker can do: no command-line flag, set at startup.
      v8.setFlagsFromString('--enable-experimental-regexp-engine');
      return Promise.resolve((source) => RegExp.prototype.test.bind(anchoredRegExp(source, 'l')));
    },
  },
  'v8-fallback': {
    description: 'V8 backtracking, switching to the linear engine after excessive backtracks',
    nodeFlags: ['--enable-experimental-regexp-engine-on-excessive-backtracks'],
    linear: true,
    load: () => Promise.resolve((source) => RegExp.prototype.test.bind(anchoredRegExp(source))),
  },
  re2js: {
    description: 're2js, RE2 ported to JavaScript, as the gateway runs it (src/api/regex.ts)',
    nodeFlags: [],
    linear: true,
    load: async () => {
      const { compileRouteRegex } = await import('../src/api/regex.js');
      return (source) => {
        const re = compileRouteRegex(source);
        return (value) => re.test(value);
      };
    },
  },
  're2-wasm': {
    description: "re2-wasm: Google's RE2 compiled to WebAssembly",
    nodeFlags: [],
    linear: true,
    load: async () => {
      const { RE2 } = await import('re2-wasm');
      return (source) => {
        const re = new RE2(`^(?:${source})$`, 'u');
        return (value) => re.test(value);
      };
    },
  },
};

function anchoredRegExp(source: string, flags = ''): RegExp {
  return new RegExp(`^(?:${source})$`, flags);
}

const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** Typical route regexes with inputs that match and inputs that do not. */
const TYPICAL: { name: string; source: string; inputs: string[] }[] = [
  {
    name: 'path /api/v[0-9]+/orders/[0-9]+',
    source: '/api/v[0-9]+/orders/[0-9]+',
    inputs: ['/api/v2/orders/12345', '/api/v2/orders/abc', '/api/v2/customers/7/orders'],
  },
  {
    name: 'path /(users|accounts)/[^/]+/profile',
    source: '/(users|accounts)/[^/]+/profile',
    inputs: ['/users/ada/profile', '/accounts/42/profile', '/users/ada/settings'],
  },
  {
    name: 'header beta-[0-9]+',
    source: 'beta-[0-9]+',
    inputs: ['beta-42', 'gamma', 'beta-'],
  },
  {
    name: 'header user-agent .*Chrome/[0-9.]+.*',
    source: '.*Chrome/[0-9.]+.*',
    inputs: [USER_AGENT, 'curl/8.5.0'],
  },
  {
    name: 'query [a-z]{2}-[A-Z]{2}',
    source: '[a-z]{2}-[A-Z]{2}',
    inputs: ['en-US', 'english'],
  },
];

/** The route of issue 11; its nested quantifier backtracks exponentially on a near miss. */
const PATHOLOGICAL = '/(a+)+$';
/** A path of `length` characters that almost matches PATHOLOGICAL. */
const nearMiss = (length: number) => `/${'a'.repeat(length - 2)}!`;
const PATHOLOGICAL_LENGTHS = [33, 10_000];
/** What the backtracking engine is run on; its time doubles with each character. */
const BACKTRACKING_LENGTHS = [22, 24, 26];

/** log10 (so 2^10000 stays a number) of the ms one test took; `extrapolated` when not run. */
interface Pathological {
  log10Ms: number;
  extrapolated: boolean;
}

interface Result {
  engine: string;
  /** Median ns per test over the rounds, per typical pattern. */
  nsPerTest: Record<string, number>;
  /** µs to compile each typical pattern (median of the compilations). */
  compileUs: Record<string, number>;
  /** Answers to the typical inputs, to compare engines. */
  answers: Record<string, boolean[]>;
  /** log10 of the ms one test of the pathological pattern takes, by input length. */
  pathological: Record<number, Pathological>;
}

const { values: flags } = parseArgs({
  options: {
    engine: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    'tests-per-round': { type: 'string', default: '300000' },
  },
});
const ROUNDS = Number(flags.rounds);
const TESTS_PER_ROUND = Number(flags['tests-per-round']);
if (!(ROUNDS >= 1 && ROUNDS <= 50 && TESTS_PER_ROUND >= 1000 && TESTS_PER_ROUND <= 10_000_000)) {
  throw new Error('--rounds must be 1..50, --tests-per-round 1000..10000000');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Where results of timed tests go, so the optimiser cannot drop the tests. */
let sink = 0;

/** Runs `test` over `inputs` round-robin `count` times; returns ns per test. */
function timeTests(test: Test, inputs: string[], count: number): number {
  let hits = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) if (test(inputs[i % inputs.length] as string)) hits += 1;
  const ns = Number(process.hrtime.bigint() - start);
  sink ^= hits;
  return ns / count;
}

async function measure(name: string, engine: Engine): Promise<Result> {
  const compile = await engine.load();
  const result: Result = {
    engine: name,
    nsPerTest: {},
    compileUs: {},
    answers: {},
    pathological: {},
  };
  for (const { name: pattern, source, inputs } of TYPICAL) {
    const compileTimes: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      const start = performance.now();
      compile(source);
      compileTimes.push((performance.now() - start) * 1000);
    }
    result.compileUs[pattern] = median(compileTimes);
    const test = compile(source);
    result.answers[pattern] = inputs.map(test);
    timeTests(test, inputs, Math.min(TESTS_PER_ROUND, 50_000)); // warm-up
    const rounds: number[] = [];
    for (let r = 0; r < ROUNDS; r += 1) rounds.push(timeTests(test, inputs, TESTS_PER_ROUND));
    result.nsPerTest[pattern] = median(rounds);
  }
  const pathological = compile(PATHOLOGICAL);
  if (engine.linear) {
    for (const length of PATHOLOGICAL_LENGTHS) {
      const start = performance.now();
      if (pathological(nearMiss(length))) throw new Error(`${name}: the near miss matched`);
      result.pathological[length] = {
        log10Ms: Math.log10(performance.now() - start),
        extrapolated: false,
      };
    }
  } else {
    pathological(nearMiss(12)); // compiles the expression: not part of the first measurement
    let last = { length: 0, ms: 0 };
    for (const length of BACKTRACKING_LENGTHS) {
      const start = performance.now();
      pathological(nearMiss(length));
      last = { length, ms: performance.now() - start };
      result.pathological[length] = { log10Ms: Math.log10(last.ms), extrapolated: false };
    }
    for (const length of PATHOLOGICAL_LENGTHS) {
      result.pathological[length] = {
        log10Ms: Math.log10(last.ms) + (length - last.length) * Math.log10(2),
        extrapolated: true,
      };
    }
  }
  return result;
}

function runChild(name: string, engine: Engine): Result {
  const child = spawnSync(
    process.execPath,
    [
      ...engine.nodeFlags,
      ...process.execArgv,
      process.argv[1] as string,
      '--engine',
      name,
      '--rounds',
      String(ROUNDS),
      '--tests-per-round',
      String(TESTS_PER_ROUND),
    ],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (child.status !== 0) {
    throw new Error(`${name}: exited ${String(child.status ?? child.signal)}: ${child.stderr}`);
  }
  return JSON.parse(child.stdout) as Result;
}

const LOG10_MS_PER_YEAR = Math.log10(1000 * 3600 * 24 * 365);

function formatTime(value: Pathological | undefined): string {
  if (value === undefined) return 'n/a';
  const { log10Ms, extrapolated } = value;
  const ms = 10 ** log10Ms;
  const text =
    log10Ms >= LOG10_MS_PER_YEAR
      ? `~10^${Math.round(log10Ms - LOG10_MS_PER_YEAR)} years`
      : ms >= 1000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${ms.toFixed(3)} ms`;
  return extrapolated ? `${text} (extrapolated)` : text;
}

async function main(): Promise<void> {
  if (flags.engine !== undefined) {
    const engine = ENGINES[flags.engine];
    if (!engine) throw new Error(`unknown --engine ${flags.engine}`);
    const result = await measure(flags.engine, engine);
    process.stdout.write(JSON.stringify(result));
    process.stderr.write(`sink ${sink}\n`);
    return;
  }
  process.stdout.write(
    `regex engines, ${machine()}, load average ${loadAverage()}\n` +
      `${ROUNDS} rounds of ${TESTS_PER_ROUND} anchored tests per pattern, median round\n\n`,
  );
  const results = Object.entries(ENGINES).map(([name, engine]) => runChild(name, engine));
  const baseline = results[0] as Result;

  const rows: string[][] = [
    ['pattern (ns per test, ratio to v8-backtracking)', ...Object.keys(ENGINES)],
  ];
  for (const { name } of TYPICAL) {
    const base = baseline.nsPerTest[name] as number;
    rows.push([
      name,
      ...results.map((r) => {
        const ns = r.nsPerTest[name] as number;
        return `${ns.toFixed(0)} ns (${(ns / base).toFixed(2)}x)`;
      }),
    ]);
  }
  rows.push([
    'compile, µs (median over the patterns)',
    ...results.map((r) => median(Object.values(r.compileUs)).toFixed(1)),
  ]);
  const lengths = [...BACKTRACKING_LENGTHS, ...PATHOLOGICAL_LENGTHS];
  for (const length of lengths) {
    rows.push([
      `${PATHOLOGICAL} on a ${length}-char near miss`,
      ...results.map((r) => formatTime(r.pathological[length])),
    ]);
  }
  process.stdout.write(`${table(rows)}\n\n`);
  for (const [name, engine] of Object.entries(ENGINES)) {
    process.stdout.write(`${name}: ${engine.description}\n`);
  }
  for (const r of results) {
    for (const { name } of TYPICAL) {
      if (JSON.stringify(r.answers[name]) !== JSON.stringify(baseline.answers[name])) {
        process.stdout.write(
          `DISAGREEMENT: ${r.engine} on ${name}: ${JSON.stringify(r.answers[name])} vs ${JSON.stringify(baseline.answers[name])}\n`,
        );
      }
    }
  }
}

await main();
