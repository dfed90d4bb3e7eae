// A small Dockerfile reader for tests: instructions per stage, continuation lines joined.
// Enough for our own Dockerfile (no heredocs, no parser directives besides `syntax`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './chart.js';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  /** The FROM arguments, e.g. `${NODE_IMAGE} AS build`. */
  from: string;
  /** The stage name after AS, if any. */
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (current === '' && line === '')) continue;
    current += current === '' ? line : ` ${line}`;
    if (current.endsWith('\\')) {
      current = current.slice(0, -1).trimEnd();
      continue;
    }
    const space = current.indexOf(' ');
    out.push({ keyword: current.slice(0, space).toUpperCase(), args: current.slice(space + 1) });
    current = '';
  }
  return out;
}

export function stages(text: string): Stage[] {
  const result: Stage[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const name = / AS (\S+)$/i.exec(instruction.args)?.[1];
      result.push({ from: instruction.args, name, instructions: [] });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

export const DOCKERFILE = join(REPO_ROOT, 'Dockerfile');
export const DOCKERIGNORE = join(REPO_ROOT, '.dockerignore');

export function readDockerfile(): Stage[] {
  return stages(readFileSync(DOCKERFILE, 'utf8'));
}

/** The paths .dockerignore lets into the build context (it is an allow-list after `*`). */
export function contextAllowList(): string[] {
  return readFileSync(DOCKERIGNORE, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
}
