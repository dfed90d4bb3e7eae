// Where the api-key stage's keys come from. In a cluster: the Secrets the route table names,
// each watched through the Kubernetes API with the resilient watch of common/watch.ts and a
// fieldSelector on its name (one watch per Secret), so the gateway's Role can name exactly
// those Secrets and a rotated key applies on the next request, without a restart. For local
// runs (`figway gateway --config`, `figway dev`): a YAML file of Secret name → consumer → key.
import { readFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { BackoffPolicy } from '../common/backoff.js';
import { loadKubeConfig } from '../common/kube-config.js';
import { ResilientWatch, WatchRequestError, type WatchFailure } from '../common/watch.js';
import { parseKeySet, type ApiKeyStore, type KeySetResult } from './api-keys.js';

/** Fills an ApiKeyStore with the keys of the Secrets a config names. */
export interface ApiKeySource {
  readonly description: string;
  /**
   * From now on, keeps exactly these Secrets' rings filled. Resolves once every Secret new in
   * `names` has been tried once (found or not); watching goes on.
   */
  follow(names: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** A Secret as cached by the watch: its keys digested, its data dropped. */
interface DigestedSecret extends KubernetesObject {
  keys?: KeySetResult;
}

/** A Secret's `data` (base64 values) as consumer → key text. */
export function decodeSecretData(
  data: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [consumer, value] of Object.entries(data ?? {})) {
    out[consumer] = Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/** client-node's errors dump headers and body into the message: its status says enough. */
function describeFailure(error: unknown): string {
  const code = error instanceof WatchRequestError ? undefined : (error as { code?: unknown }).code;
  if (typeof code === 'number') return `HTTP ${code}`;
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/** Quicker than the operator's: a gateway without its keys refuses every keyed request. */
const GATEWAY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

export interface SecretKeySourceOptions {
  namespace: string;
  store: ApiKeyStore;
  /** Hears every failure to read a Secret; the last good keys stay in use. */
  onError(error: Error): void;
  kubeConfig?: KubeConfig;
  backoff?: BackoffPolicy;
  watchTimeoutSeconds?: number;
}

export class SecretKeySource implements ApiKeySource {
  readonly description: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly watches = new Map<string, ResilientWatch<DigestedSecret>>();

  constructor(private readonly options: SecretKeySourceOptions) {
    this.kc = options.kubeConfig ?? loadKubeConfig();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.description = `secrets:${options.namespace}`;
  }

  async follow(names: readonly string[]): Promise<void> {
    const wanted = new Set(names);
    const stopping: Promise<void>[] = [];
    for (const [name, watch] of this.watches) {
      if (wanted.has(name)) continue;
      this.watches.delete(name);
      stopping.push(watch.stop());
    }
    const tried: Promise<void>[] = [];
    for (const name of wanted) {
      if (this.watches.has(name)) continue;
      tried.push(this.watchSecret(name));
    }
    this.options.store.retain(wanted);
    await Promise.all([...stopping, ...tried]);
  }

  async stop(): Promise<void> {
    const watches = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(watches.map((w) => w.stop()));
  }

  /** Starts watching one Secret; resolves once its first list has been tried. */
  private watchSecret(name: string): Promise<void> {
    const { namespace, store } = this.options;
    const qualified = `${namespace}/${name}`;
    let firstListTried: () => void = () => undefined;
    const tried = new Promise<void>((resolve) => (firstListTried = resolve));
    const report = (context: string, error?: unknown) => {
      this.options.onError(
        error === undefined
          ? new Error(context)
          : new Error(`${context}: ${describeFailure(error)}`, { cause: error }),
      );
    };
    const watch = new ResilientWatch<DigestedSecret>({
      kubeConfig: this.kc,
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      list: ({ fieldSelector }) => this.core.listNamespacedSecret({ namespace, fieldSelector }),
      // The keys are digested on arrival; the cache keeps no key in the clear.
      transform: (secret) => {
        const data = (secret as { data?: Record<string, string> }).data;
        return {
          apiVersion: secret.apiVersion,
          kind: secret.kind,
          metadata: secret.metadata,
          keys: parseKeySet(decodeSecretData(data)),
        };
      },
      onEvent: (event, secret) => {
        if (this.watches.get(name) !== watch) return;
        if (event === 'delete') {
          report(`Secret ${qualified} was deleted; keeping its last good API keys`);
          return;
        }
        const keys = secret.keys;
        if (keys === undefined) return;
        if (keys.ok) store.ring(name).keys = keys.keys;
        else
          report(
            `Secret ${qualified} holds invalid API keys (${keys.message}); keeping the last good ones`,
          );
      },
      onFailure: ({ phase, error }: WatchFailure) => {
        report(
          phase === 'list'
            ? `failed to list Secret ${qualified}`
            : `watch of Secret ${qualified} failed`,
          error,
        );
        if (phase === 'list') firstListTried();
      },
      onHandlerError: (error) => {
        report(`loading Secret ${qualified} failed`, error);
      },
      backoff: this.options.backoff ?? GATEWAY_BACKOFF,
      watchTimeoutSeconds: this.options.watchTimeoutSeconds,
    });
    void watch.synced.then(() => {
      if (watch.get(name, namespace) === undefined) {
        report(`Secret ${qualified} not found; its routes answer 503 until it exists`);
      }
      firstListTried();
    });
    this.watches.set(name, watch);
    watch.start();
    return tried;
  }
}

const KeysFileSchema = z.record(z.string().min(1), z.record(z.string().min(1), z.string()));

/**
 * Keys for a gateway without a cluster (`--api-keys-file`), in the shape of the Secrets they
 * stand for: `<secret name>: { <consumer>: <key> }`. Read once at start.
 */
export class FileKeySource implements ApiKeySource {
  readonly description: string;

  private constructor(
    private readonly secrets: ReadonlyMap<string, KeySetResult>,
    private readonly store: ApiKeyStore,
    file: string,
  ) {
    this.description = `file:${file}`;
  }

  /** Reads and checks the file; throws naming the file and the field on bad input. */
  static async load(file: string, store: ApiKeyStore): Promise<FileKeySource> {
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new Error(`${file}: cannot read: ${(error as Error).message}`, { cause: error });
    });
    const parsed = KeysFileSchema.safeParse(parseYaml(text));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${file}: expected "<secret name>: { <consumer>: <key> }" mappings; at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    const secrets = new Map<string, KeySetResult>();
    for (const [secret, data] of Object.entries(parsed.data)) {
      const keys = parseKeySet(data);
      if (!keys.ok) throw new Error(`${file}: ${secret}: ${keys.message}`);
      secrets.set(secret, keys);
    }
    return new FileKeySource(secrets, store, file);
  }

  follow(names: readonly string[]): Promise<void> {
    this.store.retain(new Set(names));
    for (const name of names) {
      const keys = this.secrets.get(name);
      if (keys?.ok === true) this.store.ring(name).keys = keys.keys;
    }
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
