// A small Kubernetes API client for the benchmarks: one keep-alive HTTPS agent, JSON in and
// out, and a line-delimited watch. Deliberately not @kubernetes/client-node, so the bench's
// own requests stay cheap, visible and easy to time.
import { readFileSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { parse as parseYaml } from 'yaml';

export interface ApiTarget {
  server: string;
  token: string;
  caFile: string;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly text: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${text.slice(0, 4000)}`);
    this.name = 'ApiError';
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchHandle {
  stop(): void;
  /** Resolves when the watch stream ends (stop(), server timeout or error). */
  ended: Promise<void>;
}

export class Kube {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(
    readonly target: ApiTarget,
    maxSockets = 32,
  ) {
    this.base = new URL(target.server);
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets,
      ca: readFileSync(target.caFile),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request; rejects with ApiError on a status outside `ok` (default 2xx). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { contentType?: string; timeoutMs?: number; ok?: (status: number) => boolean } = {},
  ): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method,
          agent: this.agent,
          timeout: opts.timeoutMs ?? 30_000,
          headers: {
            authorization: `Bearer ${this.target.token}`,
            accept: 'application/json',
            ...(payload !== undefined && {
              'content-type': opts.contentType ?? 'application/json',
              'content-length': String(Buffer.byteLength(payload)),
            }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => {
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() });
          });
          response.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
    const ok = opts.ok ?? ((s: number) => s >= 200 && s < 300);
    if (!ok(res.status)) throw new ApiError(method, path, res.status, res.text);
    let parsed: unknown = res.text;
    if (res.text.startsWith('{') || res.text.startsWith('[')) parsed = JSON.parse(res.text);
    return { status: res.status, body: parsed as T, text: res.text };
  }

  get<T = any>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((r) => r.body);
  }

  /** Creates an object; an existing one (409) is fine. */
  async ensure(collectionPath: string, obj: unknown): Promise<void> {
    await this.request('POST', collectionPath, obj, {
      ok: (s) => (s >= 200 && s < 300) || s === 409,
    });
  }

  mergePatch<T = any>(path: string, patch: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('PATCH', path, patch, { contentType: 'application/merge-patch+json' });
  }

  /**
   * Watches a collection from `resourceVersion`; each event is handed to `onEvent` as it
   * arrives. The caller restarts it if it must outlive the server's timeout.
   */
  watch<T>(
    path: string,
    params: Record<string, string>,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchHandle {
    const query = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true', ...params });
    let req: ReturnType<typeof https.request> | undefined;
    const ended = new Promise<void>((resolve) => {
      req = https.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path: `${path}?${query.toString()}`,
          method: 'GET',
          // Its own connection: a watch holds it for as long as it runs.
          agent: false,
          ca: readFileSync(this.target.caFile),
          headers: { authorization: `Bearer ${this.target.token}`, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            process.stderr.write(`[bench] watch ${path}: HTTP ${String(res.statusCode)}\n`);
            resolve();
            return;
          }
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let nl;
            while ((nl = buffer.indexOf('\n')) >= 0) {
              const line = buffer.slice(0, nl);
              buffer = buffer.slice(nl + 1);
              if (line.trim() !== '') onEvent(JSON.parse(line) as WatchEvent<T>);
            }
          });
          res.on('end', resolve);
          res.on('error', () => {
            resolve();
          });
          res.on('close', resolve);
        },
      );
      req.on('error', () => {
        resolve();
      });
      req.end();
    });
    return {
      stop: () => req?.destroy(),
      ended,
    };
  }
}

/**
 * Applies the ApiRoute CRD from crds/ and waits until it is Established. Returns the CEL
 * rules it had to drop: when the API server refuses a rule for exceeding the CEL cost
 * budget, the benchmark installs the CRD without exactly those rules (and says so in its
 * output) instead of not running at all. Nothing else about the CRD is changed.
 */
export async function installCrd(kube: Kube, file: string): Promise<string[]> {
  const crd = parseYaml(readFileSync(file, 'utf8')) as {
    metadata: { name: string };
    spec: { versions: { schema: { openAPIV3Schema: unknown } }[] };
  };
  const dropped: string[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      await kube.ensure('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      break;
    } catch (error) {
      const over =
        error instanceof ApiError && error.status === 422 ? overBudgetRules(error.text) : [];
      if (over.length === 0 || attempt > 0) throw error;
      for (const rule of over) {
        for (const version of crd.spec.versions) {
          const text = dropRule(version.schema.openAPIV3Schema, rule);
          if (text) dropped.push(`${rule.path}: ${text}`);
        }
      }
    }
  }
  const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = await kube.get<{
      status?: { conditions?: { type: string; status: string }[] };
    }>(path);
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
      return dropped;
    if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established in 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface RuleRef {
  /** e.g. properties[spec].properties[routes].items.properties[retries].properties[on] */
  path: string;
  index: number;
}

/** The rules the API server says exceed the per-rule CEL cost budget. */
function overBudgetRules(text: string): RuleRef[] {
  let message = text;
  try {
    message = (JSON.parse(text) as { message: string }).message;
  } catch {
    // Not a Status: search the text as it is.
  }
  const refs: RuleRef[] = [];
  const re =
    /openAPIV3Schema\.([^\s:]*?)\.x-kubernetes-validations\[(\d+)\]\.rule: Forbidden: estimated rule cost exceeds budget/g;
  for (const m of message.matchAll(re)) refs.push({ path: m[1] ?? '', index: Number(m[2]) });
  return refs;
}

/** Removes one x-kubernetes-validations rule from a schema; returns its text. */
function dropRule(schema: unknown, ref: RuleRef): string | undefined {
  let node = schema as Record<string, any> | undefined;
  for (const step of ref.path.match(/properties\[[^\]]+\]|items|additionalProperties/g) ?? []) {
    node = step.startsWith('properties[') ? node?.properties?.[step.slice(11, -1)] : node?.[step];
  }
  const rules = node?.['x-kubernetes-validations'] as { rule: string }[] | undefined;
  const [removed] = rules?.splice(ref.index, 1) ?? [];
  if (node && rules?.length === 0) delete node['x-kubernetes-validations'];
  return removed?.rule;
}

export async function ensureNamespace(kube: Kube, name: string): Promise<void> {
  await kube.ensure('/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
}

/**
 * A ServiceAccount bound to `clusterRole` (or a namespaced Role when `role` is given), a
 * short-lived token for it from the TokenRequest API, and a kubeconfig with that token:
 * the operator runs as a real ServiceAccount, as in a pod, so the API server can tell its
 * requests apart (APF puts ServiceAccounts outside kube-system in the flow schema
 * "service-accounts").
 */
export async function serviceAccountKubeconfig(
  kube: Kube,
  opts: { namespace: string; name: string; clusterRole?: string; file: string },
): Promise<string> {
  const { namespace, name } = opts;
  await kube.ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace },
  });
  if (opts.clusterRole) {
    await kube.ensure('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-${name}` },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: opts.clusterRole,
      },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    });
  }
  const token = await kube.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    },
  );
  const ca = readFileSync(kube.target.caFile).toString('base64');
  const q = (s: string) => JSON.stringify(s);
  const text = `apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster: { server: ${q(kube.target.server)}, certificate-authority-data: ${q(ca)} }
users:
- name: ${q(name)}
  user: { token: ${q(token.body.status.token)} }
contexts:
- name: bench
  context: { cluster: bench, user: ${q(name)}, namespace: ${q(namespace)} }
current-context: bench
`;
  writeFileSync(opts.file, text, { mode: 0o600 });
  return opts.file;
}

/** Scrapes a Prometheus text endpoint of the API server and sums the samples that match. */
export async function apiServerMetric(
  kube: Kube,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = (await kube.request<string>('GET', '/metrics')).text;
  return sumSamples(text, name, labels);
}

/** Sum of the samples of `name` whose labels include all of `labels`. */
export function sumSamples(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}
