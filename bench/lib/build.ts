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
const OUT = join(ROOT, 'node_modules', '.cache', 'figway-bench');

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

export function buildForBench(): Built {
  rmSync(OUT, { recursive: true, force: true });
  const src = join(ROOT, 'src');
  for (const file of walk(src)) {
    transpile(file, join(OUT, 'dist', relative(src, file)).replace(/\.ts$/, '.js'));
  }
  const counter = join(ROOT, 'bench', 'lib', 'count-requests.ts');
  transpile(counter, join(OUT, 'count-requests.js'));
  // node_modules/package.json ends Node's package scope lookup: say these files are ESM.
  writeFileSync(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
  // Bundled as the image ships it (src/bundle.ts), so memory figures are the deployed ones.
  execFileSync(process.execPath, [
    join(OUT, 'dist', 'bundle.js'),
    join(OUT, 'dist', 'cli.js'),
    join(OUT, 'image'),
  ]);
  return {
    cli: join(OUT, 'image', 'cli.js'),
    requestCounter: join(OUT, 'count-requests.js'),
    revision: revision(),
  };
}

/** The V8 flags the operator gives a gateway container with the default resources. */
export function deployedGatewayNodeFlags(): string[] {
  return gatewayNodeOptions(DEFAULT_RESOURCES).split(' ');
}
