// spec.gateway's placement, exposure, env and autoscaling: what the schema refuses (naming
// the field), how the chart's defaults and an ApiRoute's own fields merge, and what the
// builders make of them.
import { describe, expect, test } from '@jest/globals';
import type { V1Deployment } from '@kubernetes/client-node';
import {
  GatewayPodDefaultsSchema,
  OPERATOR_POD_LABELS,
  validateApiRoute,
  type ApiRoute,
} from '../../../src/api/index.js';
import {
  buildDeployment,
  buildHorizontalPodAutoscaler,
  buildPodDisruptionBudget,
  buildService,
  buildServiceAccount,
  commonLabels,
  FIELD_MANAGER,
  gatewayPod,
  replicasHandover,
} from '../../../src/operator/desired-state/index.js';
import { parseSettingsFlags } from '../../../src/operator/flags.js';
import { DEFAULT_SETTINGS, type OperatorSettings } from '../../../src/operator/settings.js';
import { validApiRoute } from '../../tools/api-route.js';

function manifest(gateway: object) {
  return {
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'edge', namespace: 'shop', uid: 'u-1' },
    spec: { monolith: { service: 'legacy', port: 8080 }, gateway },
  };
}

const route = (gateway: object): ApiRoute => validApiRoute(manifest(gateway));

/** `path: message` of every error, for asserting the field is named. */
function errors(gateway: object): string[] {
  const result = validateApiRoute(manifest(gateway));
  return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
}

const withDefaults = (gatewayPod: OperatorSettings['gatewayPod']): OperatorSettings => ({
  ...DEFAULT_SETTINGS,
  gatewayPod,
});

const podSpec = (deployment: V1Deployment) => deployment.spec?.template.spec;

describe('refused, naming the field', () => {
  test.each([
    [
      { replicas: 2, autoscaling: { maxReplicas: 4 } },
      /^spec\.gateway\.replicas: set replicas or autoscaling, not both/,
    ],
    [
      { autoscaling: { minReplicas: 5, maxReplicas: 4 } },
      /^spec\.gateway\.autoscaling\.minReplicas: must not exceed maxReplicas \(4\), got 5/,
    ],
    [
      { autoscaling: { maxReplicas: 4 }, resources: { requests: { memory: '64Mi' } } },
      /^spec\.gateway\.resources\.requests\.cpu: is required with autoscaling/,
    ],
    [
      { tolerations: [{ key: 'a', operator: 'Maybe' }] },
      /^spec\.gateway\.tolerations\[0\]\.operator: must be one of Exists, Equal/,
    ],
    [
      { tolerations: [{ key: 'a', effect: 'NoWay' }] },
      /^spec\.gateway\.tolerations\[0\]\.effect: must be one of NoSchedule, PreferNoSchedule, NoExecute/,
    ],
    [
      { tolerations: [{ key: 'a', operator: 'Exists', value: 'x' }] },
      /^spec\.gateway\.tolerations\[0\]\.value: must be empty with operator Exists/,
    ],
    [
      { tolerations: [{ key: 'a', effect: 'NoSchedule', tolerationSeconds: 5 }] },
      /^spec\.gateway\.tolerations\[0\]\.tolerationSeconds: is only meaningful with effect NoExecute/,
    ],
    [
      { service: { type: 'Ingress' } },
      /^spec\.gateway\.service\.type: must be one of ClusterIP, NodePort, LoadBalancer/,
    ],
    [
      { service: { type: 'NodePort', loadBalancerClass: 'x/y' } },
      /^spec\.gateway\.service\.loadBalancerClass: needs type LoadBalancer, got type NodePort/,
    ],
    [
      { service: { externalTrafficPolicy: 'Local' } },
      /^spec\.gateway\.service\.externalTrafficPolicy: needs type LoadBalancer or NodePort, got type ClusterIP/,
    ],
    [
      { podLabels: { 'app.kubernetes.io/instance': 'other' } },
      /^spec\.gateway\.podLabels\["app\.kubernetes\.io\/instance"\]: is a label the operator sets/,
    ],
    [
      { podLabels: { 'bad key!': 'x' } },
      /^spec\.gateway\.podLabels\["bad key!"\]: label key "bad key!" is invalid/,
    ],
    [
      { env: [{ name: 'NODE_OPTIONS', value: '--inspect' }] },
      /^spec\.gateway\.env\[0\]\.name: NODE_OPTIONS is set by the operator/,
    ],
    [
      { env: [{ name: 'FIGWAY_REDIS_PASSWORD', value: 'x' }] },
      /^spec\.gateway\.env\[0\]\.name: names starting with FIGWAY_ are the gateway's own/,
    ],
    [
      {
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'Sometimes' },
        ],
      },
      /^spec\.gateway\.topologySpreadConstraints\[0\]\.whenUnsatisfiable: must be one of DoNotSchedule, ScheduleAnyway/,
    ],
    [{ affinity: { nodeAfinity: {} } }, /^spec\.gateway\.affinity: unknown field "nodeAfinity"/],
  ])('%j', (gateway, message) => {
    expect(errors(gateway)).toEqual([expect.stringMatching(message)]);
  });

  test('every label the operator puts on a gateway pod is refused as a podLabel', () => {
    expect(Object.keys(commonLabels({ metadata: { name: 'edge' } })).sort()).toEqual(
      [...OPERATOR_POD_LABELS].sort(),
    );
  });
});

describe('chart defaults and the ApiRoute: a field the ApiRoute sets replaces the default whole', () => {
  const defaults = withDefaults({
    nodeSelector: { pool: 'shared', 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'shared', operator: 'Exists' }],
    imagePullSecrets: [{ name: 'registry' }],
    priorityClassName: 'standard',
    serviceAccount: { annotations: { 'iam.example.com/role': 'gateways' } },
    service: { type: 'LoadBalancer', annotations: { 'lb.example.com/internal': 'true' } },
    env: [{ name: 'TZ', value: 'UTC' }],
  });

  test('unset fields take the chart default', () => {
    const edge = route({});
    const spec = podSpec(buildDeployment(edge, defaults));
    expect(spec?.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', pool: 'shared' });
    expect(spec?.tolerations).toEqual([{ key: 'shared', operator: 'Exists' }]);
    expect(spec?.imagePullSecrets).toEqual([{ name: 'registry' }]);
    expect(spec?.priorityClassName).toBe('standard');
    expect(spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['NODE_OPTIONS', 'TZ']);
    expect(buildServiceAccount(edge, defaults).metadata?.annotations).toEqual({
      'iam.example.com/role': 'gateways',
    });
    const service = buildService(edge, defaults);
    expect(service.spec?.type).toBe('LoadBalancer');
    expect(service.metadata?.annotations).toEqual({ 'lb.example.com/internal': 'true' });
  });

  test('lists, maps and the Service an ApiRoute sets replace the default, not merge with it', () => {
    const edge = route({
      nodeSelector: { pool: 'edge' },
      tolerations: [{ key: 'edge', operator: 'Exists' }],
      env: [{ name: 'LANG', value: 'C' }],
      service: { type: 'NodePort' },
    });
    const spec = podSpec(buildDeployment(edge, defaults));
    expect(spec?.nodeSelector).toEqual({ pool: 'edge' });
    expect(spec?.tolerations).toEqual([{ key: 'edge', operator: 'Exists' }]);
    expect(spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['NODE_OPTIONS', 'LANG']);
    // Untouched fields still come from the chart.
    expect(spec?.imagePullSecrets).toEqual([{ name: 'registry' }]);
    const service = buildService(edge, defaults);
    expect(service.spec?.type).toBe('NodePort');
    expect(service.metadata?.annotations).toBeUndefined();
    expect(gatewayPod(edge, defaults).service).toEqual({ type: 'NodePort' });
  });

  test('without any: ClusterIP, no placement, the default spread over hostnames and zones', () => {
    const edge = route({});
    const spec = podSpec(buildDeployment(edge, DEFAULT_SETTINGS));
    expect(spec?.nodeSelector).toBeUndefined();
    expect(spec?.tolerations).toBeUndefined();
    expect(spec?.imagePullSecrets).toBeUndefined();
    expect(spec?.topologySpreadConstraints?.map((t) => t.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    expect(buildService(edge, DEFAULT_SETTINGS).spec?.type).toBe('ClusterIP');
  });

  test('a spread constraint without labelSelector counts the pods of its own gateway', () => {
    const spec = podSpec(
      buildDeployment(
        route({
          topologySpreadConstraints: [
            { maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' },
            {
              maxSkew: 1,
              topologyKey: 'host',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: { tier: 'edge' } },
            },
          ],
        }),
        DEFAULT_SETTINGS,
      ),
    );
    expect(spec?.topologySpreadConstraints?.map((t) => t.labelSelector)).toEqual([
      {
        matchLabels: {
          'app.kubernetes.io/name': 'figway-gateway',
          'app.kubernetes.io/instance': 'edge',
        },
      },
      { matchLabels: { tier: 'edge' } },
    ]);
  });

  test('podLabels join the pod labels; the selector stays the same', () => {
    const deployment = buildDeployment(route({ podLabels: { team: 'edge' } }), DEFAULT_SETTINGS);
    expect(deployment.spec?.template.metadata?.labels).toMatchObject({
      team: 'edge',
      'figway.dev/apiroute': 'edge',
    });
    expect(deployment.spec?.selector).toEqual(
      buildDeployment(route({}), DEFAULT_SETTINGS).spec?.selector,
    );
  });
});

describe('scrape annotations', () => {
  test('on by default, pointing at the admin port; the ApiRoute podAnnotations win', () => {
    const annotations = (r: ApiRoute, settings = DEFAULT_SETTINGS) =>
      buildDeployment(r, settings).spec?.template.metadata?.annotations;
    expect(annotations(route({}))).toEqual({
      'prometheus.io/path': '/metrics',
      'prometheus.io/port': String(DEFAULT_SETTINGS.adminPort),
      'prometheus.io/scrape': 'true',
    });
    expect(
      annotations(route({ podAnnotations: { 'prometheus.io/scrape': 'false' } })),
    ).toMatchObject({
      'prometheus.io/scrape': 'false',
    });
    expect(
      annotations(route({}), { ...DEFAULT_SETTINGS, scrapeAnnotations: false }),
    ).toBeUndefined();
  });
});

describe('autoscaling', () => {
  const scaled = route({ autoscaling: { minReplicas: 3, maxReplicas: 9 } });

  test('an HPA on CPU for the Deployment, which then has no replica count of its own', () => {
    expect(buildHorizontalPodAutoscaler(scaled)?.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'edge-gateway' },
      minReplicas: 3,
      maxReplicas: 9,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
        },
      ],
    });
    expect(buildDeployment(scaled, DEFAULT_SETTINGS).spec).not.toHaveProperty('replicas');
    expect(buildHorizontalPodAutoscaler(route({}))).toBeUndefined();
    expect(buildDeployment(route({}), DEFAULT_SETTINGS).spec?.replicas).toBe(2);
  });

  test('the PDB follows minReplicas', () => {
    expect(buildPodDisruptionBudget(scaled)).toBeDefined();
    expect(
      buildPodDisruptionBudget(route({ autoscaling: { minReplicas: 1, maxReplicas: 3 } })),
    ).toBeUndefined();
  });

  test('minReplicas defaults to 2, the default replica count', () => {
    expect(route({ autoscaling: { maxReplicas: 4 } }).spec.gateway.autoscaling).toEqual({
      minReplicas: 2,
      maxReplicas: 4,
      targetCPUUtilizationPercentage: 80,
    });
  });

  test('the replica handover applies the live count only while the operator owns it', () => {
    const live = (manager: string, fields: object) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'edge-gateway',
        namespace: 'shop',
        managedFields: [{ manager, operation: 'Apply', fieldsV1: fields }],
      },
      spec: { replicas: 4 },
    });
    expect(replicasHandover(live(FIELD_MANAGER, { 'f:spec': { 'f:replicas': {} } }))).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'edge-gateway', namespace: 'shop' },
      spec: { replicas: 4 },
    });
    expect(
      replicasHandover(live(FIELD_MANAGER, { 'f:spec': { 'f:template': {} } })),
    ).toBeUndefined();
    expect(
      replicasHandover(live('kube-controller-manager', { 'f:spec': { 'f:replicas': {} } })),
    ).toBeUndefined();
    expect(replicasHandover(undefined)).toBeUndefined();
  });
});

describe('--gateway-defaults', () => {
  test('takes the JSON the chart renders, validated by the same schema', () => {
    const { settings } = parseSettingsFlags([
      '--gateway-defaults={"nodeSelector":{"pool":"edge"},"imagePullSecrets":[{"name":"registry"}]}',
    ]);
    expect(settings.gatewayPod).toEqual({
      nodeSelector: { pool: 'edge' },
      imagePullSecrets: [{ name: 'registry' }],
    });
    expect(GatewayPodDefaultsSchema.safeParse(settings.gatewayPod).success).toBe(true);
  });

  test('refuses a bad value with the field named, and broken JSON', () => {
    expect(() =>
      parseSettingsFlags([
        '--gateway-defaults={"service":{"type":"ClusterIP","loadBalancerClass":"x"}}',
      ]),
    ).toThrow(
      /--gateway-defaults \(chart values gateway\.\*\): service\.loadBalancerClass: needs type LoadBalancer/,
    );
    expect(() => parseSettingsFlags(['--gateway-defaults={"replicas":3}'])).toThrow(
      /unknown field "replicas"/,
    );
    expect(() => parseSettingsFlags(['--gateway-defaults={'])).toThrow(
      /--gateway-defaults must be a JSON object/,
    );
  });

  test('--gateway-scrape-annotations takes true or false only', () => {
    expect(
      parseSettingsFlags(['--gateway-scrape-annotations=false']).settings.scrapeAnnotations,
    ).toBe(false);
    expect(() => parseSettingsFlags(['--gateway-scrape-annotations=no'])).toThrow(
      /--gateway-scrape-annotations must be true or false/,
    );
  });
});
