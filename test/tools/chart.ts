// Rendering the figway chart in tests: `helm template` with fixed release name and namespace,
// parsed into plain objects.
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { helm } from './helm.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'figway');
export const CHART_FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'chart');
export const RELEASE = 'figway';
export const RELEASE_NAMESPACE = 'figway-system';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface RenderOptions {
  valuesFiles?: string[];
  set?: string[];
  apiVersions?: string[];
  releaseName?: string;
  namespace?: string;
}

export function templateArgs(options: RenderOptions = {}): string[] {
  const args = [
    'template',
    options.releaseName ?? RELEASE,
    CHART_DIR,
    '--namespace',
    options.namespace ?? RELEASE_NAMESPACE,
  ];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const set of options.set ?? []) args.push('--set', set);
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  return args;
}

/** `helm template` output as text. */
export function renderText(options: RenderOptions = {}): Promise<string> {
  return helm(templateArgs(options));
}

/** Parses multi-document YAML; throws on any YAML error (helm output must be valid YAML). */
export function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(text)) {
    const [error] = document.errors;
    if (error) throw error;
    const value = document.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export async function render(options: RenderOptions = {}): Promise<K8sObject[]> {
  return parseObjects(await renderText(options));
}

/** The one object of a kind (and name suffix), or a failure that lists what was rendered. */
export function only(objects: K8sObject[], kind: string, nameSuffix = ''): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) {
    const list = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`expected one ${kind} *${nameSuffix}, found ${found.length} in: ${list}`);
  }
  return found[0] as K8sObject;
}
