// No Docker engine runs here, so this test does what `docker build` would do for the stages
// that touch only their own directory: it copies each build stage's context files (through
// the .dockerignore allow-list) into a fresh directory, runs the stage's RUN commands there
// with Node 24, assembles the runtime /app from the stages' outputs exactly as the final
// stage's COPY lines say, and runs the `figway` entrypoint from it: offline, and as operator
// and gateway against the real control plane, since the image ships a bundle and not the
// dist/ the other tests run. The final stage's own RUN (removing npm, adding the user)
// changes the system and is not run here.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { testClusterEnv } from '../cluster/env.js';
import {
  apiRouteManifest,
  createApiRoute,
  createNamespace,
  deleteNamespace,
  installCrd,
  kubeConfig,
  waitForCondition,
} from '../integration/operator/helpers.js';
import { REPO_ROOT } from '../tools/chart.js';
import { contextAllowList, readDockerfile, type Stage } from '../tools/dockerfile.js';
import { freePort, httpGet, startProcess, waitForHttp } from '../tools/processes.js';
import { listen, close } from '../../src/common/net.js';

const NODE24_BIN = join(REPO_ROOT, 'node_modules', 'node', 'bin');
const work = mkdtempSync(join(tmpdir(), 'figway-image-'));
const stages = readDockerfile();
const stageDirs = new Map<string, string>();

function stage(name: string): Stage {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`);
  return found;
}

/** Runs a build stage: WORKDIR becomes a fresh directory; COPY from the context; RUN with sh. */
function runStage(name: string): string {
  const dir = join(work, name);
  const allowed = contextAllowList();
  for (const { keyword, args } of stage(name).instructions) {
    if (keyword === 'COPY') {
      const parts = args.split(/\s+/);
      if (parts[0]?.startsWith('--from')) throw new Error(`unexpected COPY ${args} in ${name}`);
      const target = join(dir, parts.at(-1) as string);
      for (const source of parts.slice(0, -1)) {
        if (!allowed.includes(source.replace(/\/$/, '')))
          throw new Error(`COPY ${source}: not in the build context (.dockerignore)`);
        const into = target.endsWith('/') ? join(target, source) : target;
        // The context excludes src/**/*.test.ts; copying them would not change the build.
        cpSync(join(REPO_ROOT, source), into, {
          recursive: true,
          filter: (path) => !path.endsWith('.test.ts'),
        });
      }
    } else if (keyword === 'RUN') {
      const result = spawnSync('sh', ['-c', args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${NODE24_BIN}:${process.env.PATH ?? ''}`, CI: 'true' },
        timeout: 480_000,
      });
      if (result.status !== 0)
        throw new Error(`stage ${name}: RUN ${args} failed:\n${result.stderr}${result.stdout}`);
    } else if (keyword === 'WORKDIR') {
      execFileSync('mkdir', ['-p', dir]);
    } else {
      throw new Error(`stage ${name}: no simulation for ${keyword}`);
    }
  }
  stageDirs.set(name, dir);
  return dir;
}

/** The final stage's COPY lines, with `--from=<stage> <absolute path>` mapped to stage dirs. */
function assembleRuntime(): string {
  const final = stages.at(-1) as Stage;
  const workdir = final.instructions.find((i) => i.keyword === 'WORKDIR')?.args ?? '/';
  const app = join(work, 'runtime');
  expect(workdir).toBe('/app');
  for (const { args } of final.instructions.filter((i) => i.keyword === 'COPY')) {
    const parts = args.split(/\s+/);
    const from = /^--from=(\S+)$/.exec(parts[0] ?? '')?.[1];
    const [source, target] = from ? [parts[1], parts[2]] : [parts[0], parts[1]];
    if (source === undefined || target === undefined) throw new Error(`cannot read COPY ${args}`);
    let sourcePath: string;
    if (from) {
      const fromStage = stage(from);
      const fromWorkdir = fromStage.instructions.find((i) => i.keyword === 'WORKDIR')?.args ?? '/';
      const relative = source.startsWith(fromWorkdir) ? source.slice(fromWorkdir.length) : source;
      sourcePath = join(stageDirs.get(from) as string, relative);
    } else {
      sourcePath = join(REPO_ROOT, source);
    }
    const targetPath = target.endsWith('/')
      ? join(app, target, source.split('/').at(-1) as string)
      : join(app, target);
    cpSync(sourcePath, targetPath, { recursive: true });
  }
  return app;
}

let app = '';

beforeAll(() => {
  if (!existsSync(join(NODE24_BIN, 'node')))
    throw new Error('Node 24 (the `node` devDependency) is missing: run npm install');
  runStage('build');
  app = assembleRuntime();
}, 900_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function figway(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(join(NODE24_BIN, 'node'), [join(app, 'dist', 'cli.js'), ...args], {
    cwd: dirname(app),
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production' },
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the image built from the Dockerfile', () => {
  test('the entrypoint runs the CMD (--help) and lists operator and gateway', () => {
    const result = figway(['--help']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^ {2}operator \[flags\] +run the Kubernetes operator$/m);
    expect(result.stdout).toMatch(/^ {2}gateway --config F +run one ApiRoute's gateway$/m);
  });

  test('figway validate works from the bundle in /app', () => {
    const example = readFileSync(join(REPO_ROOT, 'examples', 'orders-first-path.yaml'), 'utf8');
    expect(example).toContain('kind: ApiRoute');
    const result = figway(['validate', join(REPO_ROOT, 'examples', 'orders-first-path.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/1 valid, 0 invalid/);
    expect(result.status).toBe(0);
  });

  test('the runtime is the bundle: JavaScript only, no node_modules, sources or tests', () => {
    expect(readdirSync(app).sort()).toEqual(['dist', 'package.json']);
    const files = readdirSync(join(app, 'dist'), { recursive: true }) as string[];
    expect(files).toContain('cli.js');
    expect(files.filter((f) => !f.endsWith('.js'))).toEqual([]);
    expect(files.filter((f) => /\.test\./.test(f))).toEqual([]);
  });
});

const cluster = testClusterEnv();
const describeCluster = cluster ? describe : describe.skip;

describeCluster('the bundled figway on the real control plane', () => {
  test('the operator reconciles an ApiRoute and the gateway serves it from its ConfigMap', async () => {
    const kc = kubeConfig(cluster?.kubeconfigPath ?? '');
    await installCrd(kc, cluster?.stateFile ?? '');
    const ns = await createNamespace(kc, 'image');
    const upstream = createServer((_req, res) => res.end('from orders'));
    const upstreamPort = await listen(upstream, 0, '127.0.0.1');
    const [opAdmin, gwPort, gwAdmin] = [await freePort(), await freePort(), await freePort()];
    const run = (name: string, args: string[]) =>
      startProcess(
        name,
        join(NODE24_BIN, 'node'),
        [join(app, 'dist', 'cli.js'), ...args],
        join(work, `${name}.log`),
        {
          cwd: app,
          env: { KUBECONFIG: cluster?.kubeconfigPath, NODE_ENV: 'production' },
        },
      );
    const operator = run('operator', [
      'operator',
      '--namespaces',
      ns,
      '--leader-elect=false',
      '--admin-port',
      String(opAdmin),
    ]);
    try {
      await waitForHttp(operator, `http://127.0.0.1:${String(opAdmin)}/readyz`);
      await createApiRoute(kc, apiRouteManifest(ns, 'bundled', { weight: 100, replicas: 1 }));
      await waitForCondition(kc, ns, 'bundled', 'Accepted', 'True', 60_000);
      const gateway = run('gateway', [
        'gateway',
        '--configmap',
        'bundled-gateway',
        '--namespace',
        ns,
        '--host',
        '127.0.0.1',
        '--port',
        String(gwPort),
        '--admin-port',
        String(gwAdmin),
        '--resolve',
        `orders=http://127.0.0.1:${String(upstreamPort)}`,
        '--resolve',
        `legacy=http://127.0.0.1:${String(upstreamPort)}`,
      ]);
      try {
        await waitForHttp(gateway, `http://127.0.0.1:${String(gwAdmin)}/readyz`);
        const response = await httpGet(`http://127.0.0.1:${String(gwPort)}/api/orders`);
        expect(response.status).toBe(200);
        expect(response.body).toBe('from orders');
        expect(response.headers.get('x-figway-backend')).toBe('orders');
      } finally {
        await gateway.stop();
      }
      // SIGTERM drains and exits 0, bundled as unbundled.
      expect(gateway.exitInfo()).toEqual({ code: 0, signal: null });
      expect(operator.log()).not.toMatch(/"level":"error"/);
    } finally {
      await operator.stop();
      await close(upstream);
      await deleteNamespace(kc, ns);
    }
    expect(operator.exitInfo()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
