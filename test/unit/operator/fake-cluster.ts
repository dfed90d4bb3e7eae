// An in-memory cluster for reconcile() unit tests: the writer records every write, the
// cache serves what was written (the status of an ApiRoute included, at once).
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { ApiRouteStatus } from '../../../src/api/index.js';
import type { ClusterWriter } from '../../../src/operator/kube.js';
import type { ClusterCache, RawApiRoute } from '../../../src/operator/reconciler.js';

const key = (o: KubernetesObject) =>
  `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class FakeCluster implements ClusterWriter, ClusterCache {
  objects = new Map<string, KubernetesObject>();
  apiRoutes = new Map<string, RawApiRoute>();
  writes: string[] = [];
  statuses: ApiRouteStatus[] = [];
  events: CoreV1Event[] = [];
  failApply: string | undefined;
  /** Reads the writer made (the uncached GETs). */
  reads: string[] = [];
  /** Keys of objects the cache does not show yet (a watch behind, or no figway label). */
  uncached = new Set<string>();
  private uid = 0;

  create<T extends KubernetesObject>(obj: T): Promise<T | undefined> {
    if (this.objects.has(key(obj))) {
      this.writes.push(`create ${key(obj)} (exists)`);
      return Promise.resolve(undefined);
    }
    return this.store(obj, 'create');
  }
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.store(obj, 'apply');
  }
  private store<T extends KubernetesObject>(obj: T, verb: string): Promise<T> {
    if (this.failApply === obj.kind)
      return Promise.reject(
        new Error(`failed to ${verb} ${key(obj)}: etcdserver: request timed out`),
      );
    this.writes.push(`${verb} ${key(obj)}`);
    const old = this.objects.get(key(obj));
    const stored = structuredClone(obj) as T & { status?: unknown };
    stored.metadata ??= {};
    stored.metadata.uid = old?.metadata?.uid ?? `uid-${++this.uid}`;
    if (obj.kind === 'Deployment') {
      const replicas = (obj as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
      stored.metadata.generation = 1;
      stored.status = {
        observedGeneration: 1,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      };
    }
    this.objects.set(key(obj), stored);
    return Promise.resolve(structuredClone(stored));
  }
  read(obj: KubernetesObject): Promise<KubernetesObject | undefined> {
    this.reads.push(`read ${key(obj)}`);
    return Promise.resolve(this.objects.get(key(obj)));
  }
  delete(obj: KubernetesObject, uid: string): Promise<void> {
    this.writes.push(`delete ${key(obj)} uid=${uid}`);
    this.objects.delete(key(obj));
    return Promise.resolve();
  }
  patchApiRouteStatus(namespace: string, name: string, status: ApiRouteStatus): Promise<void> {
    this.writes.push(`status ${namespace}/${name}`);
    this.statuses.push(status);
    const route = this.apiRoutes.get(`${namespace}/${name}`);
    if (route) route.status = structuredClone(status);
    return Promise.resolve();
  }
  createEvent(event: CoreV1Event): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }
  getApiRoute(namespace: string, name: string) {
    return this.apiRoutes.get(`${namespace}/${name}`);
  }
  getOwned(kind: string, namespace: string, name: string) {
    const k = `${kind}/${namespace}/${name}`;
    return this.uncached.has(k) ? undefined : this.objects.get(k);
  }
  listOwned(kind: string, namespace: string) {
    return [...this.objects.values()].filter(
      (o) => o.kind === kind && o.metadata?.namespace === namespace && !this.uncached.has(key(o)),
    );
  }
}
