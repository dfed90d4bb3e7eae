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

/** Told of every API request's end: its method, host and HTTP status (undefined: no answer). */
export type RequestObserver = (method: string, host: string, status: number | undefined) => void;

type Dispatch = (options: { method: string; origin?: unknown }, handler: object) => boolean;

/**
 * The handler of one request, reporting its status once: at the response head (undici's
 * onResponseStart, or the legacy onHeaders) or at an error before one. A Proxy, so that
 * undici sees exactly the methods the original handler has, whichever API it implements.
 */
function observingHandler(handler: object, report: (status: number | undefined) => void): object {
  let reported = false;
  const once = (status: number | undefined) => {
    if (reported) return;
    reported = true;
    report(status);
  };
  return new Proxy(handler, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === 'onResponseStart')
        return (...args: unknown[]) => {
          once(args[1] as number);
          return method.apply(target, args);
        };
      if (property === 'onHeaders')
        return (...args: unknown[]) => {
          once(args[0] as number);
          return method.apply(target, args);
        };
      if (property === 'onResponseError' || property === 'onError')
        return (...args: unknown[]) => {
          once(undefined);
          return method.apply(target, args);
        };
      return method.bind(target);
    },
  });
}

export class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, PooledDispatcher>();
  private observer: RequestObserver | undefined;

  /** Reports every API request from now on, e.g. to rest_client_requests_total. */
  observeRequests(observer: RequestObserver): void {
    this.observer = observer;
  }

  /** The dispatcher with an interceptor that tells the observer of each request's end. */
  private observed(dispatcher: unknown): unknown {
    const composable = dispatcher as { compose?: (interceptor: unknown) => unknown } | undefined;
    if (typeof composable?.compose !== 'function') return dispatcher;
    return composable.compose((dispatch: Dispatch): Dispatch => (options, handler) => {
      const observer = this.observer;
      if (observer === undefined) return dispatch(options, handler);
      const host = URL.canParse(String(options.origin)) ? new URL(String(options.origin)).host : '';
      return dispatch(
        options,
        observingHandler(handler, (status) => {
          observer(options.method, host, status);
        }),
      );
    });
  }

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
      const dispatcher = this.observed(create.call(this, cluster, agentOptions));
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
