// `npm run generate`: writes the generated files that are checked in — the CRD (crds/ and
// the chart's copy) and the ApiRoute reference in README.md. Tests fail when they drift.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles, replaceReferenceSection } from './generated-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

for (const [path, content] of Object.entries(generatedFiles())) {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
  process.stdout.write(`wrote ${path}\n`);
}
const readmePath = join(root, 'README.md');
const readme = await readFile(readmePath, 'utf8');
await writeFile(readmePath, replaceReferenceSection(readme));
process.stdout.write('updated README.md (ApiRoute reference)\n');
