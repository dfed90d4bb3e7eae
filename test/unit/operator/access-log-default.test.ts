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

describe('access logs', () => {
  test('are off unless the ApiRoute or the chart-wide default turns them on', () => {
    expect(compileConfig(validApiRoute(route())).table.accessLog).toBeUndefined();
    const chart = settingsFromValues({
      'gateway-access-log-sample-ratio': '0',
      'gateway-access-log-errors': 'true',
    });
    expect(compileConfig(validApiRoute(route()), chart).table.accessLog).toEqual({
      sampleRatio: 0,
      alwaysLogErrors: true,
      redactQuery: true,
    });
  });

  test("an ApiRoute's own setting wins over the chart's, with its defaults filled in", () => {
    const chart = settingsFromValues({ 'gateway-access-log-sample-ratio': '0.5' });
    const own = validApiRoute(route({ accessLog: { sampleRatio: 0.01 } }));
    expect(compileConfig(own, chart).table.accessLog).toEqual({
      sampleRatio: 0.01,
      alwaysLogErrors: true,
      redactQuery: true,
    });
  });

  test('a sample ratio outside 0 to 1 is refused with the field named', () => {
    const result = validateApiRoute(route({ accessLog: { sampleRatio: 2 } }));
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors).toContainEqual(
        expect.objectContaining({
          path: 'spec.gateway.accessLog.sampleRatio',
          message: 'must be between 0 and 1, got 2',
        }),
      );
    expect(() => settingsFromValues({ 'gateway-access-log-sample-ratio': 'often' })).toThrow(
      /--gateway-access-log-sample-ratio must be a number from 0 to 1/,
    );
    expect(() => settingsFromValues({ 'gateway-access-log-errors': 'yes' })).toThrow(
      /--gateway-access-log-errors must be true or false/,
    );
  });
});
