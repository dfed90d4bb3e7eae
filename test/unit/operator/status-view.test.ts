// `figway status`: the text pinned by golden files (UPDATE_GOLDEN=1 accepts an intended
// change; review the diff of test/fixtures/operator/status/ like code).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  configuredPercent,
  formatStatus,
  type StatusApiRoute,
  type StatusInput,
} from '../../../src/operator/status-view.js';

const GOLDEN = join(import.meta.dirname, '../../fixtures/operator/status');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const NOW = Date.parse('2025-06-01T10:05:00Z');

function golden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

const apiRoute: StatusApiRoute = {
  metadata: { name: 'orders', namespace: 'shop', generation: 4 },
  spec: {
    routes: [
      {
        name: 'orders-api',
        backends: [{ weight: 100 }, { monolith: true, weight: 0 }],
        migration: { steps: [5, 25, 50, 100] },
      },
      { name: 'cart-api', backends: [{ weight: 30 }, { monolith: true, weight: 70 }] },
      { name: 'fresh', backends: [{ monolith: true, weight: 100 }], migration: { steps: [5] } },
    ],
  },
  status: {
    observedGeneration: 4,
    gateway: { service: 'orders-gateway', readyReplicas: 2, configHash: 'abc' },
    monolith: 'legacy-shop:8080',
    conditions: [
      {
        type: 'Accepted',
        status: 'True',
        reason: 'Valid',
        message: 'the spec is valid',
        lastTransitionTime: '2025-06-01T09:00:00Z',
      },
      {
        type: 'Ready',
        status: 'True',
        reason: 'GatewayReady',
        message: '2/2 gateway pods ready',
        lastTransitionTime: '2025-06-01T10:04:00Z',
      },
    ],
    routes: [
      {
        name: 'orders-api',
        newServicePercent: 25,
        migration: {
          phase: 'WaitingForTraffic',
          step: 1,
          weight: 25,
          since: '2025-06-01T10:00:00.000Z',
          message: 'step 2/4 (25%): inconclusive: waiting for 40 more requests',
          plan: { steps: [5, 25, 50, 100], newBackends: ['orders'] },
          lastAnalysis: {
            at: '2025-06-01T10:04:30.000Z',
            requests: 60,
            newErrorRatio: 0.05,
            monolithErrorRatio: 0.002,
            verdict: 'inconclusive',
            reason: 'inconclusive: waiting for 40 more requests',
          },
        },
        shadow: { requests: 200, mismatchRatio: 0.015, topFields: ['$.total', 'status'] },
      },
      { name: 'cart-api', newServicePercent: 30 },
    ],
  },
};

const events: StatusInput['events'] = [
  {
    type: 'Normal',
    reason: 'GatewayCreated',
    message: 'created Deployment orders-gateway',
    lastMs: NOW - 3_600_000,
    count: 1,
  },
  {
    type: 'Warning',
    reason: 'MigrationStepFailed',
    message: 'step 2/4 (25%) failed: 5xx 6% vs 0.2%',
    lastMs: NOW - 90_000,
    count: 3,
  },
];

describe('figway status', () => {
  test('from status alone: configured and effective share, the last verdict, conditions, Events', () => {
    golden('from-status.txt', formatStatus({ apiRoute, events, nowMs: NOW }));
  });

  test('with Prometheus: observed share and 5xx ratio per side, and why a route was not observed', () => {
    const routes = new Map([
      [
        'orders-api',
        {
          ok: true as const,
          observations: {
            newService: { requests: 240, errors: 12 },
            monolith: { requests: 760, errors: 2 },
          },
        },
      ],
      ['cart-api', { ok: false as const, reason: 'Prometheus has no series for cart-api' }],
      [
        'fresh',
        {
          ok: true as const,
          observations: {
            newService: { requests: 0, errors: 0 },
            monolith: { requests: 0, errors: 0 },
          },
        },
      ],
    ]);
    golden(
      'with-prometheus.txt',
      formatStatus({
        apiRoute,
        events: [],
        nowMs: NOW,
        observed: { source: 'Prometheus at http://prometheus:9090', window: '5m', routes },
      }),
    );
  });

  test('an ApiRoute the operator has not reconciled yet says so', () => {
    const text = formatStatus({
      apiRoute: { metadata: { name: 'new', generation: 1 }, spec: apiRoute.spec },
      events: [],
      nowMs: NOW,
    });
    expect(text).toContain('generation  1 (the operator last acted on none)');
    expect(text).toContain('none yet (the operator has not reconciled it)');
    expect(text).toMatch(/orders-api +100% +not applied +- +- +- +not started/);
  });

  test('configured share is the new-service part of the weights', () => {
    expect(
      configuredPercent([{ weight: 10 }, { weight: 15 }, { monolith: true, weight: 75 }]),
    ).toBe(25);
    expect(configuredPercent([{ monolith: true, weight: 100 }])).toBe(0);
    expect(configuredPercent([])).toBe(0);
  });
});
