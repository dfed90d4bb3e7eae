// `figway render FILE`: the objects the operator would create for each ApiRoute in FILE,
// as multi-document YAML, from the same pure builders the operator uses. For GitOps
// reviews and CI: what you see here is what the cluster gets (less ownerReferences, which
// need the ApiRoute's uid).
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { inputName, readInput } from '../common/input.js';
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

export const RENDER_USAGE = `usage: figway render [flags] FILE...   (FILE - reads standard input)

Prints, as multi-document YAML, the objects the operator creates for every ApiRoute in the
files (documents of other kinds are skipped). Exit 1 with every error when one is invalid.

  --image IMAGE                      gateway image (as the operator's --image)
  --image-pull-policy POLICY         Always, IfNotPresent or Never
  --drain-seconds N                  gateway drain on shutdown
  --gateway-access-log-sample-ratio F
  --gateway-access-log-errors BOOL   the operator's access log defaults
  -h, --help                         this help`;

/** `figway render FILE...`; exit 1 when any document is invalid (and nothing is printed). */
export async function renderCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${RENDER_USAGE}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseSettingsFlags(args);
  } catch (error) {
    process.stderr.write(`figway render: ${(error as Error).message}\n${RENDER_USAGE}\n`);
    return 2;
  }
  const { settings, rest: files } = parsed;
  if (files.length === 0) {
    process.stderr.write(`figway render: no FILE given\n${RENDER_USAGE}\n`);
    return 2;
  }
  const documents: string[] = [];
  const errors: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (error) {
      errors.push(`${inputName(file)}: cannot read: ${(error as Error).message}`);
      continue;
    }
    const result = renderText(text, settings, inputName(file));
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
