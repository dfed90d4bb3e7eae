// `figway validate` as CI pipelines call it: real files, a real process, the exit code.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { figway as run, root } from '../../tools/cli.js';

const figway = (...args: string[]) => run(args);

// Each test starts a TypeScript process; on a busy 2-core machine that takes seconds.
jest.setTimeout(30_000);

describe('figway validate', () => {
  it('passes every example', async () => {
    const result = await figway(
      'validate',
      'examples/orders-first-path.yaml',
      'examples/catalog-cohort-5050.yaml',
      'examples/payments-migrated.yaml',
      'examples/external-monolith.yaml',
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('4 valid, 0 invalid\n');
    expect(result.code).toBe(0);
  });

  it('names the file, document and field of every error, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'figway-validate-'));
    const good = readFileSync(join(root, 'examples', 'orders-first-path.yaml'), 'utf8');
    const bad = good
      .replace('weight: 10 }', 'weight: 150 }')
      .replace('timeout: 5s', 'timeout: soon');
    const file = join(dir, 'routes.yaml');
    writeFileSync(file, `${good}\n---\n${bad}\n---\n`);

    const result = await figway('validate', file);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${file}: document 2 (orders): spec.routes[0].backends[0].weight: must be between 0 and 100, got 150`,
    );
    expect(result.stderr).toContain(
      `${file}: document 2 (orders): spec.routes[0].timeout: must be a duration such as 250ms, 5s, 2m, 1m30s or 1h (Gateway API duration: up to four parts of 1-5 digits and h, m, s or ms), got "soon"`,
    );
    expect(result.stderr).not.toContain('document 1');
    expect(result.stderr).toContain('1 valid, 1 invalid');
  });

  it('reports YAML syntax errors and unreadable files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'figway-validate-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'spec: [unclosed\n');
    const result = await figway('validate', file, join(dir, 'missing.yaml'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}: document 1: (yaml):`);
    expect(result.stderr).toContain('missing.yaml: cannot read');
  });

  it('explains its usage when given no file', async () => {
    const result = await figway('validate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: figway validate FILE...');
  });
});
