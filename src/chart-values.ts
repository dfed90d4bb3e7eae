// The values table of the chart README, generated from charts/figway/values.yaml (the
// comment above each key) and values.schema.json (type, and the description where a key has
// no comment), so the documentation of a value cannot drift from the value.
// `npm run generate` writes it; a test fails when charts/figway/README.md is stale.
import { replaceSection } from './api/generated-files.js';
import { isMap, isPair, isScalar, parseDocument, type Node, type Pair } from 'yaml';

interface SchemaNode {
  type?: string;
  enum?: unknown[];
  description?: string;
  properties?: Record<string, SchemaNode>;
}

function typeOf(schema: SchemaNode | undefined, value: unknown): string {
  if (schema?.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema?.type) return schema.type;
  if (Array.isArray(value)) return 'array';
  return value === null ? 'null' : typeof value;
}

/** The comment written above a key, as one line of prose. */
function commentOf(pair: Pair): string {
  const key = pair.key as Node | null;
  const text = (key as { commentBefore?: string | null } | null)?.commentBefore ?? '';
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(node: Node, schema: SchemaNode | undefined, prefix: string, out: string[]): void {
  if (!isMap(node)) return;
  for (const pair of node.items) {
    if (!isPair(pair) || !isScalar(pair.key)) continue;
    const name = String(pair.key.value);
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const child = schema?.properties?.[name];
    const value = pair.value as Node | null;
    // Maps with keys go deeper, unless the schema takes the map whole (resources, …).
    const opaque = child?.type === 'object' && child.properties === undefined;
    if (isMap(value) && value.items.length > 0 && !opaque) {
      rows(value, child, path, out);
      continue;
    }
    const json = value === null ? null : (value.toJSON() as unknown);
    const description = commentOf(pair) || child?.description || '';
    out.push(
      `| \`${path}\` | ${typeOf(child, json)} | \`${cell(JSON.stringify(json))}\` | ${cell(description)} |`,
    );
  }
}

/** The values table in Markdown. */
export function valuesTable(valuesYaml: string, schemaJson: string): string {
  const document = parseDocument(valuesYaml);
  const schema = JSON.parse(schemaJson) as SchemaNode;
  const out = ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |'];
  if (document.contents) rows(document.contents, schema, '', out);
  return out.join('\n');
}

/** The chart README with its values table brought up to date. */
export function updateChartReadme(readme: string, valuesYaml: string, schemaJson: string): string {
  return replaceSection(readme, 'chart-values', valuesTable(valuesYaml, schemaJson));
}
