// Kubernetes Events on ApiRoutes (core/v1, which `kubectl describe` and `kubectl get events`
// show). A retried failure would otherwise post the same Event every backoff step, so an
// identical Event for the same ApiRoute is posted at most once per `dedupeMs`. Posting an
// Event is best effort: a failure is logged, never fails the reconcile.
//
// client-node declares its models as classes without behaviour; the API takes plain JSON.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment */
import type { CoreV1Event } from '@kubernetes/client-node';
import { API_VERSION, DEFAULT_NAMESPACE, KIND } from '../api/index.js';
import type { ClusterWriter } from './kube.js';

export type EventType = 'Normal' | 'Warning';

export interface EventSubject {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export const EVENT_REASONS = {
  created: 'GatewayCreated',
  updated: 'ConfigUpdated',
  invalid: 'InvalidSpec',
  secretNotFound: 'SecretNotFound',
  conflict: 'Conflict',
  failed: 'ReconcileFailed',
  pruned: 'Pruned',
} as const;

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly writer: ClusterWriter,
    private readonly options: {
      instance: string;
      dedupeMs?: number;
      now?: () => number;
      onError?: (error: unknown) => void;
    },
  ) {}

  async emit(
    subject: EventSubject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const now = this.options.now?.() ?? Date.now();
    const dedupeMs = this.options.dedupeMs ?? 10 * 60_000;
    const { name, namespace = DEFAULT_NAMESPACE, uid } = subject.metadata;
    const key = `${uid ?? `${namespace}/${name}`}\u0000${reason}\u0000${message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < dedupeMs) return;
    this.recent.set(key, now);
    this.prune(now, dedupeMs);
    const time = new Date(now);
    const event: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      // generateName: events are many per object; their names never matter.
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: KIND,
        name,
        namespace,
        ...(uid !== undefined && { uid }),
        ...(subject.metadata.resourceVersion !== undefined && {
          resourceVersion: subject.metadata.resourceVersion,
        }),
      },
      type,
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
      source: { component: 'figway-operator' },
      reportingComponent: 'figway.dev/operator',
      reportingInstance: this.options.instance,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    try {
      await this.writer.createEvent(event);
    } catch (error) {
      // Let the next identical Event through: this one was never posted.
      this.recent.delete(key);
      this.options.onError?.(error);
    }
  }

  /** Forgets an ApiRoute's Events when it is deleted, bounding memory. */
  forget(uid: string): void {
    for (const key of this.recent.keys())
      if (key.startsWith(`${uid}\u0000`)) this.recent.delete(key);
  }

  private prune(now: number, dedupeMs: number): void {
    if (this.recent.size < 10_000) return;
    for (const [key, at] of this.recent) if (now - at >= dedupeMs) this.recent.delete(key);
  }
}
