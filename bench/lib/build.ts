// The operator and gateway the benchmarks run: src/ transpiled to plain JavaScript (no
// type check: that is `npm run typecheck`'s job) and run with plain `node`, as in the
// image. Running them under tsx would add its loader thread to the RSS and CPU we measure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import {
  DEFAULT_RESOURCES,
  gatewayNodeOptions,
} from '../../src/operator/desired-state/builders.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Inside node_modules so the transpiled files resolve the project's dependencies. */
const CACHE = join(ROOT, 'node_modules', '.cache');
const OUT = join(CACHE, 'figway-bench');

export interface Built {
  /** cli.js of the bundle built from the transpiled tree (as the image ships it). */
  cli: string;
  /** The preload that counts the operator's API requests (see count-requests.ts). */
  requestCounter: string;
  /** What was built: commit and whether src/ had uncommitted changes. */
  revision: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return walk(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')
      ? [path]
      : [];
  });
}

function transpile(file: string, outFile: string): void {
  const out = ts.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: {
      target: ts.ScriptTarget.ES2024,
      module: ts.ModuleKind.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  });
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, out.outputText);
}

export function revision(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT })
      .toString()
      .trim();
    return dirty === '' ? commit : `${commit} + uncommitted changes in src/`;
  } catch {
    return 'unknown';
  }
}

/** Transpiles a src/ tree into out/dist and bundles it into out/image as the image does. */
function bundleTree(src: string, out: string): string {
  rmSync(out, { recursive: true, force: true });
  for (const file of walk(src)) {
    transpile(file, join(out, 'dist', relative(src, file)).replace(/\.ts$/, '.js'));
  }
  // node_modules/package.json ends Node's package scope lookup: say these files are ESM.
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  // Bundled as the image ships it (src/bundle.ts), so memory figures are the deployed ones.
  execFileSync(process.execPath, [
    join(out, 'dist', 'bundle.js'),
    join(out, 'dist', 'cli.js'),
    join(out, 'image'),
  ]);
  return join(out, 'image', 'cli.js');
}

export function buildForBench(): Built {
  const cli = bundleTree(join(ROOT, 'src'), OUT);
  const counter = join(ROOT, 'bench', 'lib', 'count-requests.ts');
  transpile(counter, join(OUT, 'count-requests.js'));
  return { cli, requestCounter: join(OUT, 'count-requests.js'), revision: revision() };
}

/**
 * The bundled cli.js of an earlier commit's src/ (with today's dependencies), to measure
 * a change against what came before in the same run; undefined when git cannot give it
 * (a shallow clone without that commit).
 */
export function buildRevisionForBench(rev: string): string | undefined {
  const tree = join(CACHE, 'figway-bench-baseline-src');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  try {
    const archive = execFileSync('git', ['archive', '--format=tar', rev, 'src'], {
      cwd: ROOT,
      maxBuffer: 256 * 1024 * 1024,
    });
    execFileSync('tar', ['-x', '-C', tree], { input: archive });
  } catch {
    return undefined;
  }
  return bundleTree(join(tree, 'src'), join(CACHE, 'figway-bench-baseline'));
}

/** The V8 flags the operator gives a gateway container with the default resources. */
export function deployedGatewayNodeFlags(): string[] {
  return gatewayNodeOptions(DEFAULT_RESOURCES).split(' ');
}
