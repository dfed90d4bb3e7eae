// Leader election logic with a fake clock and an in-memory Lease that behaves like the API:
// create fails when the Lease exists, update fails on a stale resourceVersion. The real
// Lease API is exercised in test/integration/operator.
import { describe, expect, test } from '@jest/globals';
import {
  LeaderElector,
  type Clock,
  type LeaseClient,
  type LeaseRecord,
} from '../../../src/operator/leader-election.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

class FakeClock implements Clock {
  t = 1_000_000;
  private sleepers: { due: number; resolve: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const sleeper = { due: this.t + ms, resolve };
      this.sleepers.push(sleeper);
      signal.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      });
    });
  }
  /** Moves time forward, waking sleepers in order and letting their work run. */
  async advance(ms: number, check?: () => void): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (;;) {
      const next = this.sleepers.filter((s) => s.due <= target).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.t = next.due;
      this.sleepers = this.sleepers.filter((s) => s !== next);
      next.resolve();
      await flush();
      check?.();
    }
    this.t = target;
    await flush();
    check?.();
  }
}

class FakeLeaseStore {
  record: LeaseRecord | undefined;
  private rv = 0;
  writes = 0;

  client(
    name: string,
    state: { down?: boolean; hang?: boolean } = {},
  ): LeaseClient & { state: typeof state } {
    const guard = async () => {
      if (state.hang) await new Promise(() => undefined);
      if (state.down) throw new Error(`connect ECONNREFUSED (${name})`);
    };
    return {
      state,
      description: 'figway-system/figway-operator',
      get: async () => {
        await guard();
        return this.record && { ...this.record };
      },
      create: async (record) => {
        await guard();
        if (this.record) throw new Error('leases "figway-operator" already exists');
        return this.write(record);
      },
      update: async (record) => {
        await guard();
        if (record.resourceVersion !== this.record?.resourceVersion) {
          throw new Error('Operation cannot be fulfilled: the object has been modified');
        }
        return this.write(record);
      },
    };
  }

  private write(record: LeaseRecord): LeaseRecord {
    this.rv += 1;
    this.writes += 1;
    this.record = { ...record, resourceVersion: String(this.rv) };
    return { ...this.record };
  }
}

const TIMING = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function candidate(identity: string, lease: LeaseClient, clock: Clock) {
  const events: string[] = [];
  const elector = new LeaderElector({
    identity,
    lease,
    clock,
    ...TIMING,
    random: () => 0,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  return { elector, events };
}

describe('LeaderElector', () => {
  test('takes a missing Lease and keeps renewing it', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const a = candidate('a', store.client('a'), clock);
    a.elector.start();
    await clock.advance(0);
    expect(a.events).toEqual(['started']);
    expect(a.elector.isLeader()).toBe(true);
    expect(store.record).toMatchObject({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    const acquired = store.record?.acquireTime;
    await clock.advance(60_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(store.record?.renewTime).toBeGreaterThan(clock.now() - TIMING.retryPeriodMs - 1);
    expect(store.record?.acquireTime).toBe(acquired);
    await a.elector.stop();
  });

  test('of two candidates exactly one leads, at every moment', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const a = candidate('a', store.client('a'), clock);
    const b = candidate('b', store.client('b'), clock);
    a.elector.start();
    b.elector.start();
    const oneLeader = () => {
      expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    };
    await clock.advance(0);
    await clock.advance(120_000, oneLeader);
    expect(a.events.length + b.events.length).toBe(1);
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  test('a crashed leader is replaced once its Lease expires, not before', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const aClient = store.client('a');
    const a = candidate('a', aClient, clock);
    const b = candidate('b', store.client('b'), clock);
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(0);
    expect(b.elector.isLeader()).toBe(false);
    // a freezes: its requests never return (a partition, or a hung process).
    aClient.state.hang = true;
    const crashedAt = clock.now();
    let bStartedAt: number | undefined;
    await clock.advance(40_000, () => {
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
      if (bStartedAt === undefined && b.elector.isLeader()) bStartedAt = clock.now();
    });
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
    expect(b.events).toEqual(['started']);
    // b may only take over after a full lease duration without a renewal of a.
    expect(bStartedAt).toBeDefined();
    expect((bStartedAt ?? 0) - crashedAt).toBeGreaterThanOrEqual(
      TIMING.leaseDurationMs - TIMING.retryPeriodMs,
    );
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.elector.stop();
  });

  test('a leader that cannot reach the API stops leading by its renew deadline', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const client = store.client('a');
    const a = candidate('a', client, clock);
    a.elector.start();
    await clock.advance(0);
    client.state.down = true;
    const downAt = clock.now();
    let stoppedAt: number | undefined;
    await clock.advance(TIMING.renewDeadlineMs + TIMING.retryPeriodMs, () => {
      if (stoppedAt === undefined && !a.elector.isLeader()) stoppedAt = clock.now();
    });
    expect(a.events).toEqual(['started', 'stopped']);
    expect((stoppedAt ?? Infinity) - downAt).toBeLessThanOrEqual(TIMING.renewDeadlineMs);
    // Once the API is back it campaigns again and, still holding the Lease, leads again.
    client.state.down = false;
    await clock.advance(TIMING.retryPeriodMs * 2);
    expect(a.events).toEqual(['started', 'stopped', 'started']);
    await a.elector.stop();
  });

  test('a leader whose Lease was taken over stops at its next renew', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const a = candidate('a', store.client('a'), clock);
    a.elector.start();
    await clock.advance(0);
    // Someone else (e.g. after a long pause of a) wrote the Lease.
    store.record = { ...store.record!, holderIdentity: 'intruder', resourceVersion: '999' };
    await clock.advance(TIMING.retryPeriodMs);
    expect(a.events).toEqual(['started', 'stopped']);
    expect(a.elector.isLeader()).toBe(false);
    await a.elector.stop();
  });

  test('stop releases the Lease so a successor starts within one retry period', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const a = candidate('a', store.client('a'), clock);
    const b = candidate('b', store.client('b'), clock);
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(5_000);
    await a.elector.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    expect(store.record?.holderIdentity).toBe('');
    await clock.advance(TIMING.retryPeriodMs * 1.2);
    expect(b.elector.isLeader()).toBe(true);
    await b.elector.stop();
  });

  test('two candidates racing for an expired Lease: the stale write loses', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    store.record = {
      holderIdentity: 'gone',
      leaseDurationSeconds: 15,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 4,
      resourceVersion: '1',
    };
    const a = candidate('a', store.client('a'), clock);
    const b = candidate('b', store.client('b'), clock);
    a.elector.start();
    b.elector.start();
    await clock.advance(0);
    // Both see the record for the first time now: neither may take it yet.
    expect(a.elector.isLeader() || b.elector.isLeader()).toBe(false);
    await clock.advance(20_000, () => {
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
    });
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(store.record.leaseTransitions).toBe(5);
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  test('rejects timings where a leader could outlive its Lease', () => {
    const store = new FakeLeaseStore();
    expect(
      () =>
        new LeaderElector({
          identity: 'a',
          lease: store.client('a'),
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
          onStartedLeading: () => undefined,
          onStoppedLeading: () => undefined,
        }),
    ).toThrow('retryPeriod < renewDeadline < leaseDuration');
  });
});
