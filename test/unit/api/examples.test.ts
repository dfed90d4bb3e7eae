import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { compileRouteTable, formatErrors, validateYamlDocuments } from '../../../src/api/index.js';

const examplesDir = join(import.meta.dirname, '..', '..', '..', 'examples');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

describe('examples/', () => {
  const files = yamlFiles(examplesDir);

  it('has the examples the README promises', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)('%s is a valid ApiRoute that compiles to a route table', (file) => {
    const results = validateYamlDocuments(readFileSync(file, 'utf8'));
    expect(results.length).toBeGreaterThan(0);
    for (const result of results) {
      expect(formatErrors(result.errors)).toBe('');
      expect(result.value).toBeDefined();
      if (result.value) expect(() => compileRouteTable(result.value!)).not.toThrow();
    }
  });
});
