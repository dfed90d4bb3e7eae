// Where the gateway's Secrets come from: the API keys of auth.apiKey and the JWKS of
// auth.jwt.jwksSecretRef. In a cluster: the Secrets the route table names, each watched
// through the Kubernetes API with the resilient watch of common/watch.ts and a
// fieldSelector on its name (one watch per Secret), so the gateway's Role can name exactly
// those Secrets and a rotation applies on the next request, without a restart. For local
// runs (`figway gateway --config`, `figway dev`): a YAML file of Secret name → key → value.
import { readFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { SecretUse } from '../api/index.js';
import type { BackoffPolicy } from '../common/backoff.js';
import { loadKubeConfig } from '../common/kube-config.js';
import { ResilientWatch, WatchRequestError, type WatchFailure } from '../common/watch.js';
import { parseKeySet, type KeySetResult } from './api-keys.js';
import { parseJwks, type JwksResult, type SecretStore } from './secret-store.js';

/** Fills a SecretStore with what the Secrets a config names hold. */
export interface SecretSource {
  readonly description: string;
  /**
   * From now on, keeps exactly these Secrets' rings filled. Resolves once every Secret new in
   * `uses` has been tried once (found or not); watching goes on.
   */
  follow(uses: readonly SecretUse[]): Promise<void>;
  stop(): Promise<void>;
}

/** What a Secret holds for its uses, read on arrival: API keys digested, JWKS parsed. */
export interface SecretContents {
  readonly apiKeys?: KeySetResult;
  readonly jwks: ReadonlyMap<string, JwksResult>;
}

/** Reads a Secret's decoded data for what the config uses it for. Pure. */
export function readSecret(data: Readonly<Record<string, string>>, use: SecretUse): SecretContents {
  return {
    ...(use.apiKeys && { apiKeys: parseKeySet(data) }),
    jwks: new Map(use.jwksKeys.map((key) => [key, parseJwks(data[key])])),
  };
}

/**
 * Puts a Secret's good contents into the store; reports each broken part, whose last good
 * contents stay in use.
 */
export function applySecret(
  store: SecretStore,
  qualified: string,
  name: string,
  contents: SecretContents,
  report: (message: string) => void,
): void {
  const keys = contents.apiKeys;
  if (keys?.ok === true) store.apiKeys(name).keys = keys.keys;
  else if (keys !== undefined)
    report(
      `Secret ${qualified} holds invalid API keys (${keys.message}); keeping the last good ones`,
    );
  for (const [key, jwks] of contents.jwks) {
    if (jwks.ok) store.jwks(name, key).keys = jwks.keys;
    else
      report(
        `Secret ${qualified} key ${key} holds no valid JWKS (${jwks.message}); keeping the last good keys`,
      );
  }
}

/** A use as a string, to tell when a watched Secret is read for something else. */
function useSignature(use: SecretUse): string {
  return `${String(use.apiKeys)}:${use.jwksKeys.join(',')}`;
}

/** A Secret as cached by the watch: its contents read, its data dropped. */
interface ReadSecret extends KubernetesObject {
  contents?: SecretContents;
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

export interface KubeSecretSourceOptions {
  namespace: string;
  store: SecretStore;
  /** Hears every failure to read a Secret; the last good contents stay in use. */
  onError(error: Error): void;
  kubeConfig?: KubeConfig;
  backoff?: BackoffPolicy;
  watchTimeoutSeconds?: number;
}

export class KubeSecretSource implements SecretSource {
  readonly description: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly watches = new Map<
    string,
    { watch: ResilientWatch<ReadSecret>; signature: string }
  >();

  constructor(private readonly options: KubeSecretSourceOptions) {
    this.kc = options.kubeConfig ?? loadKubeConfig();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.description = `secrets:${options.namespace}`;
  }

  async follow(uses: readonly SecretUse[]): Promise<void> {
    const wanted = new Map(uses.map((u) => [u.name, u]));
    const stopping: Promise<void>[] = [];
    for (const [name, { watch, signature }] of this.watches) {
      const use = wanted.get(name);
      // A Secret now read for something else is read again from the start.
      if (use !== undefined && useSignature(use) === signature) continue;
      this.watches.delete(name);
      stopping.push(watch.stop());
    }
    const tried: Promise<void>[] = [];
    for (const use of uses) {
      if (this.watches.has(use.name)) continue;
      tried.push(this.watchSecret(use));
    }
    this.options.store.retain(uses);
    await Promise.all([...stopping, ...tried]);
  }

  async stop(): Promise<void> {
    const watches = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(watches.map((w) => w.watch.stop()));
  }

  /** Starts watching one Secret; resolves once its first list has been tried. */
  private watchSecret(use: SecretUse): Promise<void> {
    const { name } = use;
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
    const watch: ResilientWatch<ReadSecret> = new ResilientWatch<ReadSecret>({
      kubeConfig: this.kc,
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      list: ({ fieldSelector }) => this.core.listNamespacedSecret({ namespace, fieldSelector }),
      // The contents are read on arrival; the cache keeps no API key in the clear.
      transform: (secret) => {
        const data = (secret as { data?: Record<string, string> }).data;
        return {
          apiVersion: secret.apiVersion,
          kind: secret.kind,
          metadata: secret.metadata,
          contents: readSecret(decodeSecretData(data), use),
        };
      },
      onEvent: (event, secret) => {
        if (this.watches.get(name)?.watch !== watch) return;
        if (event === 'delete') {
          report(`Secret ${qualified} was deleted; keeping its last good contents`);
          return;
        }
        if (secret.contents !== undefined)
          applySecret(store, qualified, name, secret.contents, (message) => {
            report(message);
          });
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
    this.watches.set(name, { watch, signature: useSignature(use) });
    watch.start();
    return tried;
  }
}

const SecretsFileSchema = z.record(z.string().min(1), z.record(z.string().min(1), z.string()));

/**
 * Secrets for a gateway without a cluster, given once at start (`--api-keys-file`, the
 * `figway dev` demo), in the shape of the Secrets they stand for: `<secret name>: { <key>:
 * <value> }` (consumer → API key, or a data key → JWKS JSON). What a config cannot use is
 * reported when it follows it.
 */
export class StaticSecretSource implements SecretSource {
  constructor(
    private readonly secrets: ReadonlyMap<string, Readonly<Record<string, string>>>,
    private readonly store: SecretStore,
    private readonly onError: (error: Error) => void,
    readonly description: string,
  ) {}

  /** Reads and checks the file's shape; throws naming the file and the field on bad input. */
  static async load(
    file: string,
    store: SecretStore,
    onError: (error: Error) => void,
  ): Promise<StaticSecretSource> {
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new Error(`${file}: cannot read: ${(error as Error).message}`, { cause: error });
    });
    const parsed = SecretsFileSchema.safeParse(parseYaml(text));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${file}: expected "<secret name>: { <key>: <value> }" mappings; at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    const secrets = new Map(Object.entries(parsed.data));
    return new StaticSecretSource(secrets, store, onError, `file:${file}`);
  }

  follow(uses: readonly SecretUse[]): Promise<void> {
    this.store.retain(uses);
    for (const use of uses) {
      const data = this.secrets.get(use.name);
      if (data === undefined) continue;
      applySecret(
        this.store,
        `${this.description}:${use.name}`,
        use.name,
        readSecret(data, use),
        (message) => {
          this.onError(new Error(message));
        },
      );
    }
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
