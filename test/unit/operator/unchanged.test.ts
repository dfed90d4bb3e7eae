// When an apply would change nothing: the live object covers every desired field.
import { describe, expect, test } from '@jest/globals';
import { coversDesired, desiredFingerprint } from '../../../src/operator/desired-state/index.js';

const desired = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'orders-gateway', labels: { app: 'orders' } },
  spec: { ports: [{ name: 'http', port: 80 }], selector: { app: 'orders' } },
};

describe('coversDesired', () => {
  test('fields the API server added (defaults, status, uid) do not count', () => {
    const live = structuredClone(desired) as typeof desired & Record<string, unknown>;
    Object.assign(live.metadata, { uid: 'u', resourceVersion: '9' });
    Object.assign(live.spec.ports[0]!, { protocol: 'TCP', targetPort: 8080 });
    live.status = { loadBalancer: {} };
    expect(coversDesired(live, desired)).toBe(true);
  });

  test.each([
    ['a changed scalar', (o: typeof desired) => (o.spec.ports[0]!.port = 81)],
    [
      'a removed map entry',
      (o: typeof desired) => delete (o.metadata as { labels?: unknown }).labels,
    ],
    ['an extra list element', (o: typeof desired) => o.spec.ports.push({ name: 'x', port: 1 })],
    [
      'a string where a number was',
      (o: typeof desired) => ((o.spec.ports[0] as { port: unknown }).port = '80'),
    ],
    [
      'a list where an object was',
      (o: typeof desired) => ((o.spec as { selector: unknown }).selector = []),
    ],
  ])('%s is a difference', (_name, change) => {
    const live = structuredClone(desired);
    change(live);
    expect(coversDesired(live, desired)).toBe(false);
  });
});

describe('desiredFingerprint', () => {
  test('changes with any field, including one that was dropped', () => {
    const without = structuredClone(desired) as Partial<typeof desired>;
    delete without.spec;
    expect(desiredFingerprint(desired)).toBe(desiredFingerprint(structuredClone(desired)));
    expect(desiredFingerprint(without as typeof desired)).not.toBe(desiredFingerprint(desired));
  });
});
