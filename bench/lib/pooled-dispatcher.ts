// EXPERIMENT, bench-only (`npm run bench:scale -- --experiment=pooled-dispatcher`):
// preloaded into the operator to show what one shared connection pool would change.
//
// @kubernetes/client-node 2.0.1 builds a new undici Agent in KubeConfig.createDispatcher
// on every applySecurityAuthentication(), i.e. for every API request (config.js; the
// https.Agent path got an agentCache for kubernetes-client/javascript#2893, this path did
// not). Every request then pays a TLS handshake plus a fresh SecureContext (CA parsing),
// and the idle connections pile up until they time out. This preload memoizes the
// dispatcher per KubeConfig, cluster and user, as createAgent already does.
import { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: { name?: string } | null, agentOptions: unknown) => unknown;
const proto = KubeConfig.prototype as unknown as { createDispatcher: CreateDispatcher };
const original = proto.createDispatcher;
const cache = new WeakMap<object, Map<string, unknown>>();

proto.createDispatcher = function (this: KubeConfig, cluster, agentOptions) {
  let perConfig = cache.get(this);
  if (!perConfig) {
    perConfig = new Map();
    cache.set(this, perConfig);
  }
  const key = JSON.stringify([cluster?.name ?? '', this.getCurrentUser()?.name ?? '']);
  if (!perConfig.has(key)) perConfig.set(key, original.call(this, cluster, agentOptions));
  return perConfig.get(key);
};
