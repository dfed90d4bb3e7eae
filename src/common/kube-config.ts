// Loading a kubeconfig, for the operator and for the gateway's ConfigMap watch.
//
// @kubernetes/client-node 2.0.1 builds a new undici Agent for every API request
// (KubeConfig.createDispatcher, called from applySecurityAuthentication; only the https.Agent
// path has a cache). Every request then pays a TLS handshake and a new SecureContext, and
// the idle connections pile up until they time out: at 1,000 ApiRoutes (bench:scale) that
// was two thirds of the operator's CPU. PooledKubeConfig keeps one dispatcher per cluster,
// user and TLS material, so requests share keep-alive connections while a rotated
// certificate or CA still gets a fresh pool. The hook is a private method of client-node;
// test/unit/common/kube-config.test.ts fails if an upgrade removes or renames it.
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: Cluster | null, agentOptions: AgentOptions) => unknown;

interface PooledDispatcher {
  fingerprint: string;
  dispatcher: unknown;
}

/** What makes two dispatchers interchangeable: where they connect and with which TLS material. */
function tlsFingerprint(cluster: Cluster | null, options: AgentOptions): string {
  const hash = createHash('sha256');
  const material = [options.ca, options.cert, options.key, options.pfx, options.passphrase];
  for (const part of material) {
    const items: unknown[] = Array.isArray(part) ? part : [part];
    for (const item of items) {
      hash.update(Buffer.isBuffer(item) || typeof item === 'string' ? item : String(item));
      hash.update('\0');
    }
  }
  hash.update(
    JSON.stringify([
      cluster?.server,
      cluster?.proxyUrl,
      options.rejectUnauthorized,
      options.servername,
    ]),
  );
  return hash.digest('hex');
}

export class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, PooledDispatcher>();

  constructor() {
    super();
    const self = this as unknown as { createDispatcher?: CreateDispatcher };
    const create = self.createDispatcher;
    if (typeof create !== 'function') return;
    self.createDispatcher = (cluster, agentOptions) => {
      const key = JSON.stringify([cluster?.name ?? '', this.getCurrentUser()?.name ?? '']);
      const fingerprint = tlsFingerprint(cluster, agentOptions);
      const pooled = this.dispatchers.get(key);
      if (pooled?.fingerprint === fingerprint) return pooled.dispatcher;
      const dispatcher = create.call(this, cluster, agentOptions);
      // The credentials changed: requests in flight finish on the old pool, then it closes.
      if (pooled) void closeDispatcher(pooled.dispatcher);
      this.dispatchers.set(key, { fingerprint, dispatcher });
      return dispatcher;
    };
  }
}

async function closeDispatcher(dispatcher: unknown): Promise<void> {
  const closable = dispatcher as { close?: () => Promise<void> } | undefined;
  try {
    await closable?.close?.();
  } catch {
    // Already closed or destroyed: nothing left to release.
  }
}

/**
 * Loads the given kubeconfig file, else in-cluster config in a pod, else $KUBECONFIG or
 * ~/.kube/config (as kubectl does), and fails early when it names no cluster.
 */
export function loadKubeConfig(path?: string): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      `no Kubernetes cluster in ${path ?? 'the default kubeconfig'} (current context: ${kc.getCurrentContext() || 'none'})`,
    );
  }
  return kc;
}
