// The files commands read, where `-` is standard input (`kustomize build | figway validate -`).
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';

/** The name messages use for a file argument. */
export function inputName(file: string): string {
  return file === '-' ? 'stdin' : file;
}

/** The text of `file`, or of standard input for `-`. */
export async function readInput(file: string): Promise<string> {
  return file === '-' ? text(process.stdin) : readFile(file, 'utf8');
}
