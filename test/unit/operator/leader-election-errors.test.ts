// The operator run outside a cluster with defaults: the Lease namespace does not exist.
// One line naming the fix, reported once a minute (not every retry), with the API's
// status, reason and message and never client-node's dump of the response headers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { errorFields } from '../../../src/common/logger.js';
import {
  KubeLeaseClient,
  LeaderElector,
  REPEATED_ERROR_INTERVAL_MS,
  type Clock,
} from '../../../src/operator/leader-election.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** An API server without the figway-system namespace: every Lease call is 404. */
async function apiWithoutNamespace(): Promise<KubeConfig> {
  server = createServer((req, res) => {
    const isGet = req.method === 'GET';
    res.writeHead(404, { 'content-type': 'application/json', 'audit-id': 'secret-looking-header' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: isGet
          ? 'leases.coordination.k8s.io "figway-operator" not found'
          : 'namespaces "figway-system" not found',
        reason: 'NotFound',
        code: 404,
      }),
    );
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** A clock whose sleeps return at once, moving time forward. */
function fastClock(): Clock & { t: number } {
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
  return clock;
}

describe('leader election without its namespace', () => {
  test('says once a minute, in one line, how to fix it', async () => {
    const lease = new KubeLeaseClient(
      await apiWithoutNamespace(),
      'figway-system',
      'figway-operator',
    );
    const clock = fastClock();
    const errors: Error[] = [];
    const elector = new LeaderElector({
      identity: 'me',
      lease,
      clock,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      random: () => 0,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
      onError: (error) => errors.push(error),
    });
    elector.start();
    while (clock.t < REPEATED_ERROR_INTERVAL_MS + 10_000) await new Promise((r) => setImmediate(r));
    await elector.stop();

    // About 35 retries in 70 s of the clock; reported at 0 s and again after a minute.
    expect(errors.map((e) => e.message)).toEqual([
      'failed to create Lease figway-system/figway-operator: namespace figway-system does not exist: create it (kubectl create namespace figway-system), choose another with --leader-election-namespace, or run a single replica with --leader-elect=false',
      'failed to create Lease figway-system/figway-operator: namespace figway-system does not exist: create it (kubectl create namespace figway-system), choose another with --leader-election-namespace, or run a single replica with --leader-elect=false',
    ]);
    const fields = errorFields(errors[0]);
    expect(fields).toEqual({
      error: errors[0]?.message,
      cause: 'namespaces "figway-system" not found',
      status: 404,
      reason: 'NotFound',
    });
    expect(JSON.stringify(fields)).not.toMatch(/Headers|audit-id|HTTP-Code/);
  });
});
