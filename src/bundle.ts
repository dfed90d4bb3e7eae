// `node dist/bundle.js ENTRY OUTDIR`: bundles compiled figway (e.g. dist/cli.js) with its
// production dependencies into OUTDIR, as ES modules with one chunk per lazily loaded
// command. The image ships this bundle (Dockerfile) and the benchmarks run it, so both see
// the same build. Why bundle: the Kubernetes client alone is ~2,700 modules, and loaded one
// by one they cost every pod tens of MiB of memory (see the README, Performance).
import { build } from 'esbuild';

const [entry, outdir] = process.argv.slice(2);
if (entry === undefined || outdir === undefined) {
  process.stderr.write('usage: node dist/bundle.js ENTRY OUTDIR\n');
  process.exit(2);
}
await build({
  entryPoints: [entry],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  legalComments: 'eof',
  logLevel: 'warning',
  // The bundled CommonJS dependencies call require(); ES modules have none of their own.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
});
