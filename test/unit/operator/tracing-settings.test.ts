// spec.gateway.tracing and the chart-wide defaults (--gateway-tracing-*): what ends up in
// the route table, field by field, and what is refused with the field named.
import { describe, expect, test } from '@jest/globals';
import { validateApiRoute } from '../../../src/api/index.js';
import { compileConfig } from '../../../src/operator/desired-state/index.js';
import { settingsFromValues } from '../../../src/operator/flags.js';
import { validApiRoute } from '../../tools/api-route.js';

const route = (gateway: Record<string, unknown> = {}) => ({
  apiVersion: 'figway.dev/v1alpha1',
  kind: 'ApiRoute',
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { monolith: { service: 'legacy', port: 8080 }, gateway, routes: [] },
});

const COLLECTOR = 'http://otel-collector.observability:4318';

function refusal(gateway: Record<string, unknown>) {
  const result = validateApiRoute(route(gateway));
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.errors;
}

describe('tracing settings', () => {
  test('are off by default, and off when no endpoint is named anywhere', () => {
    expect(compileConfig(validApiRoute(route())).table.tracing).toBeUndefined();
    const ratioOnly = settingsFromValues({ 'gateway-tracing-sampling-ratio': '0.5' });
    expect(compileConfig(validApiRoute(route()), ratioOnly).table.tracing).toBeUndefined();
    const own = validApiRoute(route({ tracing: { samplingRatio: 1 } }));
    expect(compileConfig(own).table.tracing).toBeUndefined();
    // The chart renders an empty endpoint when none is set.
    expect(settingsFromValues({ 'gateway-tracing-endpoint': '' }).defaultTracing).toBeUndefined();
  });

  test('the chart-wide endpoint turns tracing on for every gateway, at 1% unless told', () => {
    const chart = settingsFromValues({ 'gateway-tracing-endpoint': `${COLLECTOR}/` });
    expect(compileConfig(validApiRoute(route()), chart).table.tracing).toEqual({
      endpoint: COLLECTOR,
      samplingRatio: 0.01,
    });
  });

  test("an ApiRoute's own fields win over the chart's, one by one", () => {
    const chart = settingsFromValues({
      'gateway-tracing-endpoint': COLLECTOR,
      'gateway-tracing-sampling-ratio': '0.25',
    });
    const ratio = validApiRoute(route({ tracing: { samplingRatio: 1 } }));
    expect(compileConfig(ratio, chart).table.tracing).toEqual({
      endpoint: COLLECTOR,
      samplingRatio: 1,
    });
    const endpoint = validApiRoute(route({ tracing: { endpoint: 'https://tempo.example:4318' } }));
    expect(compileConfig(endpoint, chart).table.tracing).toEqual({
      endpoint: 'https://tempo.example:4318',
      samplingRatio: 0.25,
    });
  });

  test('a changed setting changes the config hash, so gateways pick it up', () => {
    const on = validApiRoute(route({ tracing: { endpoint: COLLECTOR } }));
    const more = validApiRoute(route({ tracing: { endpoint: COLLECTOR, samplingRatio: 0.5 } }));
    expect(compileConfig(on).hash).not.toBe(compileConfig(more).hash);
    expect(compileConfig(on).hash).not.toBe(compileConfig(validApiRoute(route())).hash);
  });

  test.each([
    [
      'not a URL',
      { endpoint: 'otel-collector:4318' },
      'must be an absolute http:// or https:// URL',
    ],
    ['another scheme', { endpoint: 'grpc://otel:4317' }, 'must be an absolute http:// or https://'],
    ['the traces path', { endpoint: `${COLLECTOR}/v1/traces` }, "must be the receiver's base URL"],
    ['a query', { endpoint: `${COLLECTOR}?token=1` }, 'must have no query or fragment'],
  ])('an endpoint with %s is refused, naming the field', (_what, tracing, message) => {
    expect(refusal({ tracing })).toContainEqual(
      expect.objectContaining({
        path: 'spec.gateway.tracing.endpoint',
        message: expect.stringContaining(message),
      }),
    );
  });

  test.each([[-0.1], [1.5]])('samplingRatio %s is refused, naming the field', (samplingRatio) => {
    expect(refusal({ tracing: { samplingRatio } })).toContainEqual({
      path: 'spec.gateway.tracing.samplingRatio',
      message: `must be between 0 and 1, got ${samplingRatio}`,
    });
  });

  test('an unknown field is refused', () => {
    expect(refusal({ tracing: { endpoint: COLLECTOR, ratio: 0.5 } })).not.toEqual([]);
  });

  test('bad flags name the flag and what was given', () => {
    expect(() => settingsFromValues({ 'gateway-tracing-endpoint': 'collector:4318' })).toThrow(
      /--gateway-tracing-endpoint must be an absolute http:\/\/ or https:\/\/ URL.*"collector:4318"/,
    );
    expect(() => settingsFromValues({ 'gateway-tracing-sampling-ratio': 'often' })).toThrow(
      /--gateway-tracing-sampling-ratio must be between 0 and 1.*"often"/,
    );
    expect(() => settingsFromValues({ 'gateway-tracing-sampling-ratio': '2' })).toThrow(
      /--gateway-tracing-sampling-ratio must be between 0 and 1, got 2/,
    );
  });
});
