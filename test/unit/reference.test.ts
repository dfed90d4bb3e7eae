import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { replaceSection } from '../../src/api/generated-files.js';
import { updateReadme } from '../../src/reference.js';

describe('README.md', () => {
  it('carries the current ApiRoute and metrics references (run `npm run generate`)', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(await updateReadme(readme)).toBe(readme);
  });
});

describe('replaceSection', () => {
  it('replaces only the text between the markers', () => {
    const doc = 'a\n<!-- x:start (generated) -->\nold\n<!-- x:end -->\nb';
    expect(replaceSection(doc, 'x', 'new')).toBe(
      'a\n<!-- x:start (generated) -->\n\nnew\n\n<!-- x:end -->\nb',
    );
  });

  it('refuses a document without the markers rather than losing text', () => {
    expect(() => replaceSection('no markers', 'x', 'new')).toThrow('missing markers');
  });
});
