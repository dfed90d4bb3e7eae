// `figway render` through the real CLI entry point, as CI pipelines run it.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');
const FIXTURES = join(ROOT, 'test/fixtures/operator');

function figway(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('figway render', () => {
  test('prints the golden objects for a file', () => {
    const result = figway('render', join(FIXTURES, 'inputs/orders.yaml'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(FIXTURES, 'golden/orders.yaml'), 'utf8'));
  });

  test('--image changes the gateway image', () => {
    const result = figway(
      'render',
      '--image',
      'example.com/figway:9',
      join(FIXTURES, 'inputs/orders.yaml'),
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('image: example.com/figway:9');
  });

  test('an invalid ApiRoute prints only the field error and exits 1', () => {
    const result = figway('render', join(ROOT, 'package.json'));
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/package\.json: document 1: apiVersion: /);
  });

  test('no file is a usage error', () => {
    const result = figway('render');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: figway render');
  });
});
