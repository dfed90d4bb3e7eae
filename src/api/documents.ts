// ApiRoute YAML files as users keep them: one or more documents per file.
import { parseAllDocuments } from 'yaml';
import type { ApiRoute } from './schema.js';
import { validateApiRoute, type FieldError } from './validate.js';

export interface DocumentResult {
  /** 1-based position of the document in its file. */
  document: number;
  /** metadata.name where the document has one, for messages. */
  name?: string;
  value?: ApiRoute;
  errors: FieldError[];
}

/** Parses every YAML document in `text` and validates each as an ApiRoute. Pure. */
export function validateYamlDocuments(text: string): DocumentResult[] {
  const results: DocumentResult[] = [];
  let index = 0;
  for (const doc of parseAllDocuments(text)) {
    index += 1;
    if (doc.errors.length > 0) {
      results.push({
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
    const name = (data as { metadata?: { name?: unknown } }).metadata?.name;
    const result = validateApiRoute(data);
    results.push({
      document: index,
      ...(typeof name === 'string' && { name }),
      ...(result.ok ? { value: result.value, errors: [] } : { errors: result.errors }),
    });
  }
  return results;
}

/** Where a document's messages point: `file: document 2 (orders)`. */
export function documentLocation(file: string, result: DocumentResult): string {
  return `${file}: document ${result.document}${result.name ? ` (${result.name})` : ''}`;
}
