// Golden files pin the YAML users get; run with UPDATE_GOLDEN=1 to accept an intended change
// (then review the diff of test/fixtures/operator/golden/ like any other code change).
import { describe, expect, test } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { ROUTE_TABLE_KEY, parseRouteTable, type ApiRoute } from '../../../src/api/index.js';
import {
  buildConfigMap,
  buildDeployment,
  buildPodDisruptionBudget,
  buildRole,
  compileConfig,
  CONFIG_HASH_ANNOTATION,
  desiredState,
  gatewayNodeOptions,
  operatorFieldErrors,
  OWNED_KINDS,
} from '../../../src/operator/desired-state/index.js';
import { renderText, toYaml } from '../../../src/operator/render.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import { validApiRoute } from '../../tools/api-route.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/operator');
const INPUTS = join(FIXTURES, 'inputs');
const GOLDEN = join(FIXTURES, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function load(file: string): ApiRoute {
  return validApiRoute(parse(readFileSync(join(INPUTS, file), 'utf8')));
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

const inputs = readdirSync(INPUTS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('golden YAML', () => {
  test('there are inputs to render', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(4);
  });

  test.each(inputs)('%s renders as its golden file', (file) => {
    const text = readFileSync(join(INPUTS, file), 'utf8');
    const result = renderText(text, DEFAULT_SETTINGS, file);
    expect(result.errors).toEqual([]);
    const goldenPath = join(GOLDEN, file);
    if (UPDATE) writeFileSync(goldenPath, result.yaml);
    expect(existsSync(goldenPath)).toBe(true);
    expect(result.yaml).toBe(readFileSync(goldenPath, 'utf8'));
  });
});

describe('determinism', () => {
  test('the same ApiRoute always gives byte-identical objects', () => {
    for (const file of inputs) {
      const route = load(file);
      const first = toYaml(desiredState(route, DEFAULT_SETTINGS).objects);
      const second = toYaml(desiredState(clone(route), DEFAULT_SETTINGS).objects);
      expect(second).toBe(first);
    }
  });

  test('key order in the input does not change the output', () => {
    const route = load('overrides.yaml');
    const reordered = clone(route);
    reordered.spec.gateway.podAnnotations = {
      'alpha.example.com/a': '1',
      'zeta.example.com/b': '2',
    };
    reordered.spec.gateway.resources = { limits: { memory: '512Mi', cpu: '1' } };
    expect(toYaml(desiredState(reordered, DEFAULT_SETTINGS).objects)).toBe(
      toYaml(desiredState(route, DEFAULT_SETTINGS).objects),
    );
  });

  test('no timestamps or random values anywhere in the rendered objects', () => {
    for (const file of inputs) {
      const yaml = toYaml(desiredState(load(file), DEFAULT_SETTINGS).objects);
      expect(yaml).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
      expect(yaml).not.toMatch(/creationTimestamp|resourceVersion/);
    }
  });

  test('a weight edit changes the ConfigMap and leaves the Deployment identical (no rollout)', () => {
    const before = load('orders.yaml');
    const after = clone(before);
    after.metadata.generation = 4;
    after.spec.routes[0]!.backends[0]!.weight = 60;
    after.spec.routes[0]!.backends[1]!.weight = 40;
    expect(buildDeployment(after, DEFAULT_SETTINGS)).toEqual(
      buildDeployment(before, DEFAULT_SETTINGS),
    );
    const cmBefore = buildConfigMap(before, compileConfig(before));
    const cmAfter = buildConfigMap(after, compileConfig(after));
    expect(cmAfter.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).not.toBe(
      cmBefore.metadata?.annotations?.[CONFIG_HASH_ANNOTATION],
    );
    expect(parseRouteTable(cmAfter.data![ROUTE_TABLE_KEY]!).routes[0]!.newServicePercent).toBe(60);
  });

  test('the pod template carries no config hash', () => {
    const route = load('orders.yaml');
    const deployment = buildDeployment(route, { ...DEFAULT_SETTINGS, scrapeAnnotations: false });
    const hash = compileConfig(route).hash;
    expect(JSON.stringify(deployment)).not.toContain(hash);
    expect(deployment.spec?.template.metadata?.annotations).toBeUndefined();
  });

  test('the selector depends on the name only, never on shape, image or replicas', () => {
    const route = load('overrides.yaml');
    const changed = clone(route);
    changed.spec.gateway.replicas = 1;
    changed.spec.gateway.image = 'other:1';
    changed.spec.gateway.podAnnotations = { x: 'y' };
    changed.spec.gateway.resources = undefined;
    const selector = (r: ApiRoute) => buildDeployment(r, DEFAULT_SETTINGS).spec?.selector;
    expect(selector(changed)).toEqual(selector(route));
    expect(selector(route)).toEqual({
      matchLabels: {
        'app.kubernetes.io/name': 'figway-gateway',
        'app.kubernetes.io/instance': 'catalog',
      },
    });
  });
});

describe('objects', () => {
  const route = load('orders.yaml');
  const { objects, config } = desiredState(route, DEFAULT_SETTINGS);

  test('one object per owned kind, in apply order, all named <name>-gateway in the ApiRoute namespace', () => {
    // orders.yaml has a fixed replica count: no autoscaler.
    expect(objects.map((o) => o.kind)).toEqual(
      OWNED_KINDS.map((k) => k.kind).filter((k) => k !== 'HorizontalPodAutoscaler'),
    );
    for (const o of objects) {
      expect(o.metadata?.name).toBe('orders-gateway');
      expect(o.metadata?.namespace).toBe('shop');
      expect(o.metadata?.labels?.['figway.dev/apiroute']).toBe('orders');
      expect(o.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('figway-operator');
      expect(o.metadata?.ownerReferences).toEqual([
        {
          apiVersion: 'figway.dev/v1alpha1',
          kind: 'ApiRoute',
          name: 'orders',
          uid: route.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });

  test('the ConfigMap holds the compiled table and its hash', () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
    expect(cm.data?.[ROUTE_TABLE_KEY]).toBe(config.json);
    expect(cm.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toBe(config.hash);
    expect(parseRouteTable(config.json).source).toEqual({
      namespace: 'shop',
      name: 'orders',
      generation: 3,
    });
  });

  test('the Role reads only its own ConfigMap', () => {
    expect(buildRole(route, config).rules).toEqual([
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['orders-gateway'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
  });

  test('the Role reads the Secrets auth.apiKey names, by name, and no other', () => {
    const keyed = load('api-keys.yaml');
    expect(buildRole(keyed, compileConfig(keyed)).rules).toEqual([
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['orders-gateway'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['orders-api-keys', 'partner-keys', 'shop-api-keys'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
  });

  test('the Role reads the Secret auth.jwt.jwksSecretRef names', () => {
    const withJwks = validApiRoute({
      ...route,
      spec: {
        ...route.spec,
        defaults: {
          auth: {
            jwt: {
              issuer: 'https://id.example.com',
              audiences: ['shop'],
              jwksSecretRef: { name: 'shop-jwks', key: 'jwks.json' },
            },
          },
        },
      },
    });
    expect(buildRole(withJwks, compileConfig(withJwks)).rules?.[1]).toEqual({
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['shop-jwks'],
      verbs: ['get', 'list', 'watch'],
    });
  });

  test('the gateway runs hardened, probed on the admin port, with a grace period covering the drain', () => {
    const settings = { ...DEFAULT_SETTINGS, drainSeconds: 20, shutdownMarginSeconds: 5 };
    const d = buildDeployment(route, settings) as Required<V1Deployment>;
    const pod = d.spec.template.spec!;
    const container = pod.containers[0]!;
    expect(pod.terminationGracePeriodSeconds).toBe(25);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.args).toEqual([
      'gateway',
      '--configmap',
      'orders-gateway',
      '--namespace',
      'shop',
      '--port',
      '8080',
      '--admin-port',
      '9090',
      '--drain-seconds',
      '20',
    ]);
    expect(container.image).toBe(DEFAULT_SETTINGS.image);
    expect(pod.topologySpreadConstraints?.length).toBeGreaterThan(0);
  });

  test('spec.gateway.image overrides the operator image', () => {
    const d = buildDeployment(load('overrides.yaml'), DEFAULT_SETTINGS);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe('registry.example.com/figway:dev');
  });

  test('a PodDisruptionBudget exists only when replicas > 1', () => {
    const one = clone(route);
    one.spec.gateway.replicas = 1;
    expect(buildPodDisruptionBudget(one)).toBeUndefined();
    expect(desiredState(one, DEFAULT_SETTINGS).objects.map((o) => o.kind)).not.toContain(
      'PodDisruptionBudget',
    );
    expect(buildPodDisruptionBudget(route)?.spec?.maxUnavailable).toBe(1);
  });
});

describe('gateway heap', () => {
  test('the old generation gets half the memory limit, at least 64 MiB; none without a limit', () => {
    expect(gatewayNodeOptions({ limits: { memory: '256Mi' } })).toBe(
      '--max-semi-space-size=8 --max-old-space-size=128',
    );
    expect(gatewayNodeOptions({ limits: { memory: '1G' } })).toBe(
      '--max-semi-space-size=8 --max-old-space-size=476',
    );
    expect(gatewayNodeOptions({ limits: { memory: '64Mi' } })).toBe(
      '--max-semi-space-size=8 --max-old-space-size=64',
    );
    expect(gatewayNodeOptions({ requests: { memory: '1Gi' } })).toBe('--max-semi-space-size=8');
  });

  test('the gateway container carries them', () => {
    const deployment = buildDeployment(load('orders.yaml'), DEFAULT_SETTINGS);
    const container = deployment.spec?.template.spec?.containers[0];
    expect(container?.env).toEqual([
      { name: 'NODE_OPTIONS', value: gatewayNodeOptions(container?.resources ?? {}) },
    ]);
  });
});

describe('operatorFieldErrors', () => {
  const named = (name: string) => ({ metadata: { name } });

  test('accepts a name that makes a valid Service name', () => {
    expect(operatorFieldErrors(named('orders'))).toEqual([]);
    expect(operatorFieldErrors(named('a'.repeat(55)))).toEqual([]);
  });

  test('rejects a name too long for "<name>-gateway", naming the field', () => {
    const errors = operatorFieldErrors(named('a'.repeat(56)));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('metadata.name');
    expect(errors[0]!.message).toContain('at most 55 characters');
  });

  test('rejects a name that does not start with a letter', () => {
    expect(operatorFieldErrors(named('1orders'))[0]?.path).toBe('metadata.name');
    expect(operatorFieldErrors(named('orders.v2'))[0]?.path).toBe('metadata.name');
  });
});

describe('renderText', () => {
  test('reports invalid documents with file, document and field path', () => {
    const text = readFileSync(join(INPUTS, 'orders.yaml'), 'utf8').replace(
      'weight: 90',
      'weight: 80',
    );
    const result = renderText(text, DEFAULT_SETTINGS, 'orders.yaml');
    expect(result.errors).toEqual([
      'orders.yaml: document 1 (orders): spec.routes[0].backends: weights must add up to 100, got 90',
    ]);
  });

  test('renders several documents in order', () => {
    const a = readFileSync(join(INPUTS, 'orders.yaml'), 'utf8');
    const b = readFileSync(join(INPUTS, 'single-replica.yaml'), 'utf8');
    const result = renderText(`${a}\n---\n${b}`, DEFAULT_SETTINGS);
    expect(result.errors).toEqual([]);
    const kinds = result.yaml.split('---\n').map((doc) => (parse(doc) as { kind: string }).kind);
    expect(kinds).toHaveLength(7 + 6);
  });
});
