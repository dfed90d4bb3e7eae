// `figway render FILE`: the objects the operator would create for each ApiRoute in FILE,
// as multi-document YAML, from the same pure builders the operator uses. For GitOps
// reviews and CI: what you see here is what the cluster gets (less ownerReferences, which
// need the ApiRoute's uid).
import { readFile } from 'node:fs/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { documentLocation, formatFieldError, validateYamlDocuments } from '../api/index.js';
import { desiredState, operatorFieldErrors } from './desired-state/index.js';
import { parseSettingsFlags } from './flags.js';
import type { OperatorSettings } from './settings.js';

/** Multi-document YAML, one document per object, stable byte for byte. */
export function toYaml(objects: readonly KubernetesObject[]): string {
  return objects
    .map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
}

export interface RenderResult {
  yaml: string;
  /** `file: document N (name): path: message` lines; non-empty means nothing valid to render. */
  errors: string[];
}

/** Renders every ApiRoute in a YAML text. Pure. */
export function renderText(text: string, settings: OperatorSettings, file = '-'): RenderResult {
  const objects: KubernetesObject[] = [];
  const errors: string[] = [];
  for (const result of validateYamlDocuments(text)) {
    const where = documentLocation(file, result);
    const fieldErrors = result.value ? operatorFieldErrors(result.value) : result.errors;
    if (!result.value || fieldErrors.length > 0) {
      for (const e of fieldErrors) errors.push(`${where}: ${formatFieldError(e)}`);
      continue;
    }
    objects.push(...desiredState(result.value, settings).objects);
  }
  return { yaml: toYaml(objects), errors };
}

const USAGE = 'usage: figway render [--image IMAGE] [--drain-seconds N] FILE...';

/** `figway render FILE...`; exit 1 when any document is invalid (and nothing is printed). */
export async function renderCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseSettingsFlags(args);
  } catch (error) {
    process.stderr.write(`figway render: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { settings, rest: files } = parsed;
  if (files.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const documents: string[] = [];
  const errors: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      errors.push(`${file}: cannot read: ${(error as Error).message}`);
      continue;
    }
    const result = renderText(text, settings, file);
    errors.push(...result.errors);
    if (result.yaml !== '') documents.push(result.yaml);
  }
  if (errors.length > 0) {
    // Half a render is worse than none in a CI pipeline: print only the errors.
    process.stderr.write(`${errors.join('\n')}\n`);
    return 1;
  }
  process.stdout.write(documents.join('---\n'));
  return 0;
}
