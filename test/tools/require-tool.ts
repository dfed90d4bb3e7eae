// External tools a test needs (hadolint, prometheus, promtool). Outside CI a missing tool
// skips its tests with a loud warning; in CI (CI=true) a missing tool fails them, because
// .ci/run installs every one of them.
import { spawnSync } from 'node:child_process';
import { test } from '@jest/globals';

export const IN_CI = process.env.CI === 'true';

/** Absolute path of `name` on PATH (or in `envVar`), or undefined. */
export function findTool(name: string, envVar?: string): string | undefined {
  const override = envVar ? process.env[envVar] : undefined;
  if (override) return override;
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

/**
 * `test` when the tool is there or in CI (where its absence fails the test with `install`
 * in the message), `test.skip` with a loud warning otherwise.
 */
export type TestFn = (name: string, fn: () => Promise<void> | void, timeout?: number) => void;

export function testWithTool(tool: string, path: string | undefined, install: string): TestFn {
  if (path !== undefined) return test;
  if (IN_CI) {
    return (name) => {
      test(name, () => {
        throw new Error(`${tool} is required in CI and is not installed: ${install}`);
      });
    };
  }
  process.stderr.write(
    `\n${'!'.repeat(78)}\n!!! SKIPPING tests that need ${tool}: it is not installed.\n!!! Install it with: ${install}\n!!! In CI (CI=true) these tests fail instead of skipping.\n${'!'.repeat(78)}\n\n`,
  );
  return test.skip;
}
