// Where a gateway's route table comes from. The gateway only ever sees compiled
// RouteTables through this interface: a watched file (below) for local runs, and the
// route-table ConfigMap watched through the Kubernetes API in a cluster (operator issue).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  compileRouteTable,
  formatErrors,
  validateYamlDocuments,
  type FieldError,
  type RouteTable,
} from '../api/index.js';

/**
 * A stream of route tables. `start` resolves once the first attempt to load has finished
 * (whether it succeeded or not) and keeps watching; `onConfig` is called with every new
 * valid table, `onError` with every failure to load one. A source never stops on a bad
 * config: it reports it and keeps watching, so the gateway keeps serving its last good table.
 */
export interface ConfigSource {
  /** Human-readable origin for logs and /readyz, e.g. `file:/etc/figway/orders.yaml`. */
  readonly description: string;
  start(onConfig: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void>;
  stop(): Promise<void>;
}

/** A config that was read but rejected; carries every field error for the log line. */
export class InvalidConfigError extends Error {
  constructor(
    message: string,
    readonly fieldErrors: readonly FieldError[],
  ) {
    super(message);
    this.name = 'InvalidConfigError';
  }
}

/**
 * Parses, validates and compiles the ApiRoute YAML text of one file. Pure. The file must
 * hold exactly one ApiRoute: a gateway serves one ApiRoute, and silently picking the
 * first of several would hide a mistake.
 */
export function routeTableFromYaml(text: string, file: string): RouteTable {
  const results = validateYamlDocuments(text);
  if (results.length !== 1) {
    throw new InvalidConfigError(
      `${file}: expected exactly one ApiRoute document, found ${results.length}`,
      [],
    );
  }
  const result = results[0];
  if (result?.value === undefined) {
    const errors = result?.errors ?? [];
    throw new InvalidConfigError(
      `${file}: invalid ApiRoute: ${formatErrors(errors, '; ')}`,
      errors,
    );
  }
  return compileRouteTable(result.value);
}

export interface FileConfigSourceOptions {
  /** Quiet time after the last change event before the file is re-read. */
  debounceMs?: number;
}

/**
 * Reads an ApiRoute YAML file and re-reads it whenever it changes. The directory is
 * watched rather than the file: editors and `kubectl cp` replace files by rename, which
 * ends a watch on the old inode, and ConfigMap volumes swap a symlinked directory.
 */
export class FileConfigSource implements ConfigSource {
  readonly description: string;
  private readonly file: string;
  private readonly debounceMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private stopped = false;

  constructor(file: string, options: FileConfigSourceOptions = {}) {
    this.file = resolve(file);
    this.debounceMs = options.debounceMs ?? 100;
    this.description = `file:${this.file}`;
  }

  async start(onConfig: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      // Some platforms report no file name; re-reading an unchanged file is harmless.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.load(onConfig, onError), this.debounceMs);
    });
    this.watcher.on('error', (err) => {
      onError(new Error(`${this.description}: watch failed: ${err.message}`, { cause: err }));
    });
    await this.load(onConfig, onError);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    return Promise.resolve();
  }

  private async load(
    onConfig: (table: RouteTable) => void,
    onError: (err: Error) => void,
  ): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (!this.stopped) {
        const err = error as Error;
        onError(new Error(`${this.file}: cannot read: ${err.message}`, { cause: err }));
      }
      return;
    }
    // Watchers fire for metadata changes and for each step of a write: only content counts.
    if (this.stopped || text === this.lastText) return;
    this.lastText = text;
    let table: RouteTable;
    try {
      table = routeTableFromYaml(text, this.file);
    } catch (error) {
      onError(error as Error);
      return;
    }
    onConfig(table);
  }
}
