// ApiRoute YAML files as users keep them: one or more documents per file, often mixed with
// other kinds (`kustomize build`, a Helm render), read as kubectl reads them.
import { parseAllDocuments } from 'yaml';
import { API_VERSION, GROUP, KIND, type ApiRoute } from './schema.js';
import { validateApiRoute, type FieldError } from './validate.js';

export interface DocumentResult {
  /** 1-based position of the document in its file. */
  document: number;
  /** metadata.name where the document has one, for messages. */
  name?: string;
  value?: ApiRoute;
  errors: FieldError[];
}

export interface YamlDocuments {
  /** The ApiRoute documents (and those that cannot be read at all), validated. */
  apiRoutes: DocumentResult[];
  /** Documents of other kinds, e.g. the Deployments beside an ApiRoute: not ours to judge. */
  skipped: number;
}

/**
 * kubectl reads YAML with go-yaml's YAML 1.1 rules (sigs.k8s.io/yaml), where `yes`, `on`
 * and `off` are booleans; the yaml package's default is YAML 1.2, where they are strings.
 * Reading as 1.1 makes `monolith: yes` mean here what the API server gets.
 */
const KUBECTL_YAML = { version: '1.1' } as const;

/** A document of another kind or API group: it has a kind, and it is not figway.dev's ApiRoute. */
function isOtherKind(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const { kind, apiVersion } = data as { kind?: unknown; apiVersion?: unknown };
  if (typeof kind !== 'string') return false;
  if (kind !== KIND) return true;
  // apiVersion figway.dev/v1 is a mistake in our ApiRoute; other.example/v1 is someone else's.
  return (
    typeof apiVersion === 'string' &&
    apiVersion !== API_VERSION &&
    !apiVersion.startsWith(`${GROUP}/`)
  );
}

/** Parses every YAML document in `text` and validates each ApiRoute among them. Pure. */
export function readYamlDocuments(text: string): YamlDocuments {
  const apiRoutes: DocumentResult[] = [];
  let skipped = 0;
  let index = 0;
  for (const doc of parseAllDocuments(text, KUBECTL_YAML)) {
    index += 1;
    if (doc.errors.length > 0) {
      apiRoutes.push({
        document: index,
        errors: doc.errors.map((e) => ({
          path: '(yaml)',
          message: e.message.split('\n')[0] ?? '',
        })),
      });
      continue;
    }
    const data: unknown = doc.toJS();
    // An empty document (a trailing `---`) is not an ApiRoute and not an error.
    if (data === null || data === undefined) continue;
    if (isOtherKind(data)) {
      skipped += 1;
      continue;
    }
    const name = (data as { metadata?: { name?: unknown } }).metadata?.name;
    const result = validateApiRoute(data);
    apiRoutes.push({
      document: index,
      ...(typeof name === 'string' && { name }),
      ...(result.ok ? { value: result.value, errors: [] } : { errors: result.errors }),
    });
  }
  return { apiRoutes, skipped };
}

/** The ApiRoute documents of `text`, validated (documents of other kinds left out). Pure. */
export function validateYamlDocuments(text: string): DocumentResult[] {
  return readYamlDocuments(text).apiRoutes;
}

/** Where a document's messages point: `file: document 2 (orders)`. */
export function documentLocation(file: string, result: DocumentResult): string {
  return `${file}: document ${result.document}${result.name ? ` (${result.name})` : ''}`;
}
