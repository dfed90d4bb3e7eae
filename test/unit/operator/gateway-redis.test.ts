// The chart's gateway.redis reaches every gateway Deployment: --redis-url, and the password
// through secretKeyRef into FIGWAY_REDIS_PASSWORD, never in the arguments.
import { describe, expect, test } from '@jest/globals';
import { buildDeployment } from '../../../src/operator/desired-state/index.js';
import { settingsFromValues } from '../../../src/operator/flags.js';
import { validApiRoute } from '../../tools/api-route.js';

const apiRoute = validApiRoute({
  apiVersion: 'figway.dev/v1alpha1',
  kind: 'ApiRoute',
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { monolith: { service: 'legacy', port: 8080 }, routes: [] },
});

function container(values: Parameters<typeof settingsFromValues>[0]) {
  const pod = buildDeployment(apiRoute, settingsFromValues(values)).spec?.template.spec;
  const gateway = pod?.containers[0];
  if (gateway === undefined) throw new Error('no gateway container');
  return gateway;
}

describe('gateway.redis', () => {
  test('without a URL, gateways get no Redis', () => {
    const gateway = container({});
    expect(gateway.args).not.toContain('--redis-url');
    expect(gateway.env?.map((e) => e.name)).toEqual(['NODE_OPTIONS']);
  });

  test('the URL goes in the arguments, the password comes from the Secret in the pod namespace', () => {
    const gateway = container({
      'gateway-redis-url': 'redis://redis.figway-system:6379/2',
      'gateway-redis-password-secret': 'figway-redis',
    });
    const args = gateway.args ?? [];
    expect(args.slice(args.indexOf('--redis-url'), args.indexOf('--redis-url') + 2)).toEqual([
      '--redis-url',
      'redis://redis.figway-system:6379/2',
    ]);
    expect(gateway.env).toContainEqual({
      name: 'FIGWAY_REDIS_PASSWORD',
      // Not optional: a missing Secret keeps the pod from starting, visibly.
      valueFrom: { secretKeyRef: { name: 'figway-redis', key: 'password' } },
    });
    expect(
      container({
        'gateway-redis-url': 'rediss://redis:6380',
        'gateway-redis-password-secret': 'figway-redis',
        'gateway-redis-password-key': 'redis-password',
      }).env,
    ).toContainEqual({
      name: 'FIGWAY_REDIS_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'figway-redis', key: 'redis-password' } },
    });
  });

  test.each([
    [{ 'gateway-redis-url': 'http://redis:6379' }, '--gateway-redis-url must be redis://host:port'],
    [{ 'gateway-redis-url': 'redis://:pw@redis:6379' }, 'set FIGWAY_REDIS_PASSWORD instead'],
    [{ 'gateway-redis-password-secret': 'figway-redis' }, 'needs --gateway-redis-url'],
    [
      { 'gateway-redis-url': 'redis://redis:6379', 'gateway-redis-password-secret': 'Bad_Name' },
      '--gateway-redis-password-secret must be a Secret name',
    ],
    [
      {
        'gateway-redis-url': 'redis://redis:6379',
        'gateway-redis-password-secret': 'figway-redis',
        'gateway-redis-password-key': 'a/b',
      },
      '--gateway-redis-password-key must be a Secret data key',
    ],
  ])('refuses %j', (values, message) => {
    expect(() => settingsFromValues(values)).toThrow(message);
  });
});
