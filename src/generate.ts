// `npm run generate`: writes the checked-in files derived from the code — the CRD (crds/
// and the chart's copy) and the generated README sections. Tests fail when they drift.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './api/generated-files.js';
import { updateChartReadme } from './chart-values.js';
import { updateReadme } from './reference.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

for (const [path, content] of Object.entries(generatedFiles())) {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
  process.stdout.write(`wrote ${path}\n`);
}
const readmePath = join(root, 'README.md');
await writeFile(readmePath, await updateReadme(await readFile(readmePath, 'utf8')));
process.stdout.write('updated README.md (ApiRoute and metrics references)\n');
const chart = (file: string) => readFile(join(root, 'charts', 'figway', file), 'utf8');
await writeFile(
  join(root, 'charts', 'figway', 'README.md'),
  updateChartReadme(
    await chart('README.md'),
    await chart('values.yaml'),
    await chart('values.schema.json'),
  ),
);
process.stdout.write('updated charts/figway/README.md (values table)\n');
