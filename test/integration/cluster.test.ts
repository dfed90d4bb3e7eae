// What the operator relies on, seen on a real control plane (test/cluster): the ApiRoute
// CRD installs, accepts every example, rejects invalid ApiRoutes at admission naming the
// field, serves its descriptions in OpenAPI; pods are scheduled and turn Ready (kwok);
// the garbage collector deletes the children of a deleted ApiRoute.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

import { testClusterEnv } from '../cluster/env.js';
import { apiRequest, attachCluster, NODE_NAME, type Cluster } from '../cluster/harness.js';
import { eventually } from '../tools/processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CRD_FILE = join(ROOT, 'crds', 'figway.dev_apiroutes.yaml');
const EXAMPLES_DIR = join(ROOT, 'examples');
const GROUP = 'figway.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'apiroutes';
const CRD_NAME = `${PLURAL}.${GROUP}`;
const FIELD_MANAGER = 'figway-integration-test';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

/** The text of a failed request: the API server's Status message names the field. */
function errorText(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    return `${err.code} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
  }
  return String(err);
}

function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

/**
 * YAML read the way kubectl and Helm read it: Go's YAML follows YAML 1.1, where an
 * unquoted key such as `on` or `yes` is a boolean.
 */
function readYaml(file: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' })
    .map((d) => d.toJS() as Record<string, any> | null)
    .filter((d): d is Record<string, any> => d !== null);
}

function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
}

/** A valid ApiRoute to break one field at a time. */
function validRoute(name: string): Record<string, any> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ApiRoute',
    metadata: { name },
    spec: {
      monolith: { service: 'legacy', port: 8080 },
      routes: [
        {
          name: 'orders',
          match: { path: { type: 'PathPrefix', value: '/api/orders' } },
          backends: [
            { service: 'orders', port: 80, weight: 10 },
            { monolith: true, weight: 90 },
          ],
        },
      ],
    },
  };
}

describeCluster('the test control plane', () => {
  let cluster: Cluster;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let apiext: k8s.ApiextensionsV1Api;
  let custom: k8s.CustomObjectsApi;
  let objects: k8s.KubernetesObjectApi;
  const ns = `figway-it-${randomBytes(3).toString('hex')}`;

  async function createApiRoute(body: object, dryRun?: 'All'): Promise<Record<string, any>> {
    return (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body,
      ...(dryRun ? { dryRun } : {}),
      // Unknown fields fail instead of being pruned in silence.
      fieldValidation: 'Strict',
      fieldManager: FIELD_MANAGER,
    })) as Record<string, any>;
  }

  // Raw server-side apply: client-node's serializer knows the CRD model and drops every
  // key it has no property for, such as x-kubernetes-int-or-string (its property is
  // x_kubernetes_int_or_string), so KubernetesObjectApi would install a different schema.
  async function installCrd(): Promise<void> {
    const crd = readYaml(CRD_FILE)[0];
    const res = await apiRequest(
      cluster,
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}` +
        `?fieldManager=${FIELD_MANAGER}&force=true&fieldValidation=Strict`,
      crd,
      { contentType: 'application/apply-patch+yaml' },
    );
    if (res.status !== 200 && res.status !== 201) {
      const status = JSON.parse(res.body) as { message?: string };
      throw new Error(`${CRD_FILE} was rejected (${res.status}): ${status.message ?? res.body}`);
    }
  }

  beforeAll(async () => {
    cluster = await attachCluster(env!.stateFile);
    kc = new k8s.KubeConfig();
    kc.loadFromFile(env!.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    // The generic client takes plain objects; the typed ones want their model classes.
    objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    // Pods are admitted only once the controller manager made the namespace's default
    // ServiceAccount.
    await eventually(`ServiceAccount ${ns}/default`, async () =>
      core
        .readNamespacedServiceAccount({ name: 'default', namespace: ns })
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }),
    );
  }, 60_000);

  afterAll(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('the API server reports its real release in /version', async () => {
    const res = await apiRequest(cluster, 'GET', '/version');
    const version = JSON.parse(res.body) as { gitVersion: string; major: string; minor: string };
    expect(version.gitVersion).toMatch(/^v1\.35\.\d+$/);
    expect(version.major).toBe('1');
    expect(version.minor).toBe('35');
  });

  test('the ApiRoute CRD installs and becomes Established', async () => {
    await installCrd();
    const conditions = await eventually(
      'the CRD to be Established',
      async () => {
        const crd = await apiext.readCustomResourceDefinition({ name: CRD_NAME });
        const conditions = crd.status?.conditions ?? [];
        const established = conditions.some((c) => c.type === 'Established' && c.status === 'True');
        return established ? conditions : undefined;
      },
      30_000,
    );
    expect(conditions.find((c) => c.type === 'NamesAccepted')?.status).toBe('True');
  }, 60_000);

  describe('with the CRD installed', () => {
    beforeAll(async () => {
      await installCrd();
      // Established means served; creating a first object may still race discovery.
      await eventually(
        'ApiRoutes to be served',
        async () => {
          const crd = await apiext.readCustomResourceDefinition({ name: CRD_NAME });
          return crd.status?.conditions?.some(
            (c) => c.type === 'Established' && c.status === 'True',
          )
            ? true
            : undefined;
        },
        30_000,
      );
      await eventually('an ApiRoute list', () =>
        custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
        }),
      );
    }, 60_000);

    test('there are examples to check', () => {
      expect(exampleFiles().length).toBeGreaterThan(0);
    });

    test.each(exampleFiles())(
      'example %s is accepted by the API server (dry run)',
      async (file) => {
        const routes = readYaml(join(EXAMPLES_DIR, file)).filter((d) => d.kind === 'ApiRoute');
        expect(routes.length).toBeGreaterThan(0);
        for (const route of routes) {
          // The examples name their own namespaces; the test namespace exists.
          const body = { ...route, metadata: { ...route.metadata, namespace: ns } };
          try {
            const created = await createApiRoute(body, 'All');
            expect(created.metadata.name).toBe(route.metadata.name);
          } catch (err) {
            throw new Error(`${file}: ${route.metadata?.name}: rejected: ${errorText(err)}`, {
              cause: err,
            });
          }
        }
      },
    );

    // Each case breaks one field of a valid ApiRoute; the API server must say which.
    const invalid: [string, (spec: Record<string, any>) => void, string, RegExp][] = [
      [
        'backend weights that do not add up to 100',
        (s) => (s.routes[0].backends[1].weight = 80),
        'spec.routes[0].backends',
        /add up to 100/,
      ],
      [
        'a weight above 100',
        (s) => (s.routes[0].backends[0].weight = 150),
        'spec.routes[0].backends[0].weight',
        /100/,
      ],
      [
        'a backend with both a service and a url',
        (s) => (s.routes[0].backends[0].url = 'https://orders.example.com'),
        'spec.routes[0].backends[0]',
        /exactly one of/,
      ],
      ['no monolith', (s) => delete s.monolith, 'spec.monolith', /Required value/],
      [
        'a route name that is not a DNS label',
        (s) => (s.routes[0].name = 'Orders_API'),
        'spec.routes[0].name',
        /.+/,
      ],
      [
        'a path regex with lookahead, which RE2 cannot run',
        (s) =>
          (s.routes[0].match.path = { type: 'RegularExpression', value: '/api/(?!internal).*' }),
        'spec.routes[0].match.path.value',
        /must be an RE2 regular expression without lookahead/,
      ],
      [
        'a header regex with lookbehind',
        (s) =>
          (s.routes[0].match.headers = [
            { name: 'x-tenant', type: 'RegularExpression', value: '.*(?<!-test)' },
          ]),
        'spec.routes[0].match.headers[0].value',
        /must be an RE2 regular expression without lookahead/,
      ],
      [
        'a query regex with a backreference',
        (s) =>
          (s.routes[0].match.query = [
            { name: 'pair', type: 'RegularExpression', value: '([a-z]+)-\\1' },
          ]),
        'spec.routes[0].match.query[0].value',
        /must be an RE2 regular expression without lookahead/,
      ],
      [
        'a trusted proxy that is not a CIDR',
        (s) => (s.gateway = { trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] }),
        'spec.gateway.trustedProxies[1]',
        /CIDR/,
      ],
      [
        'a trusted proxy range with bits set after the prefix',
        (s) => (s.gateway = { trustedProxies: ['10.1.2.3/8'] }),
        'spec.gateway.trustedProxies[0]',
        /bits set after the prefix/,
      ],
      [
        'a trusted proxy that is a host name',
        (s) => (s.gateway = { trustedProxies: ['lb.example.com'] }),
        'spec.gateway.trustedProxies[0]',
        /CIDR/,
      ],
      [
        'a tracing endpoint that is not an http(s) URL',
        (s) => (s.gateway = { tracing: { endpoint: 'otel-collector:4318' } }),
        'spec.gateway.tracing.endpoint',
        /should match/,
      ],
      [
        'a tracing endpoint with the OTLP traces path',
        (s) => (s.gateway = { tracing: { endpoint: 'http://otel:4318/v1/traces' } }),
        'spec.gateway.tracing.endpoint',
        /without \/v1\/traces/,
      ],
      [
        'a tracing endpoint with a query',
        (s) => (s.gateway = { tracing: { endpoint: 'http://otel:4318/?token=1' } }),
        'spec.gateway.tracing.endpoint',
        /no query or fragment/,
      ],
      [
        'a tracing samplingRatio above 1',
        (s) => (s.gateway = { tracing: { samplingRatio: 1.5 } }),
        'spec.gateway.tracing.samplingRatio',
        /less than or equal to 1/,
      ],
      [
        'migration steps not ascending',
        (s) => (s.routes[0].migration = { steps: [5, 50, 25, 100] }),
        'spec.routes[0].migration.steps',
        /strictly ascending/,
      ],
      [
        'repeated migration steps',
        (s) => (s.routes[0].migration = { steps: [5, 5, 100] }),
        'spec.routes[0].migration.steps[1]',
        /Duplicate value/,
      ],
      [
        'a migration step above 100',
        (s) => (s.routes[0].migration = { steps: [5, 150] }),
        'spec.routes[0].migration.steps[1]',
        /less than or equal to 100/,
      ],
      [
        'a migration interval too short to judge',
        (s) => (s.routes[0].migration = { steps: [5, 100], interval: '5s' }),
        'spec.routes[0].migration.interval',
        /at least 10s/,
      ],
      [
        'a migration on a route with only the monolith',
        (s) => {
          s.routes[0].backends = [{ monolith: true, weight: 100 }];
          s.routes[0].migration = { steps: [5, 100] };
        },
        'spec.routes[0].migration',
        /needs a new-service backend/,
      ],
      [
        'an unknown path match type',
        (s) => (s.routes[0].match.path.type = 'Glob'),
        'spec.routes[0].match.path.type',
        /Unsupported value/,
      ],
      [
        'a shadow backend the route lacks',
        (s) => (s.routes[0].shadow = { backend: 'payments', percent: 10 }),
        'spec.routes[0].shadow.backend',
        /must name a non-monolith backend/,
      ],
      [
        'a shadow percent above 100',
        (s) => (s.routes[0].shadow = { backend: 'orders', percent: 100.5 }),
        'spec.routes[0].shadow.percent',
        /less than or equal to 100/,
      ],
      [
        'an unsafe shadow method without allowSideEffects',
        (s) => (s.routes[0].shadow = { backend: 'orders', percent: 10, methods: ['GET', 'POST'] }),
        'spec.routes[0].shadow.methods',
        /need allowSideEffects: true/,
      ],
      [
        'a malformed JSON path in shadow.compare.ignore',
        (s) =>
          (s.routes[0].shadow = {
            backend: 'orders',
            percent: 10,
            compare: { ignore: ['$.items[0].id'] },
          }),
        'spec.routes[0].shadow.compare.ignore[0]',
        /should match/,
      ],
      [
        'a shadow mismatch gate on a route without shadow',
        (s) =>
          (s.routes[0].migration = { steps: [5, 100], analysis: { maxShadowMismatchRatio: 0.01 } }),
        'spec.routes[0].migration.analysis.maxShadowMismatchRatio',
        /needs shadow on the route/,
      ],
      [
        'a cohort keyed on a claim on a route without a JWT',
        (s) => (s.routes[0].cohort = { claim: 'sub' }),
        'spec.routes',
        /a cohort keyed on a claim needs auth.jwt/,
      ],
      [
        'a JWT with both a jwksUri and a jwksSecretRef',
        (s) =>
          (s.routes[0].auth = {
            jwt: {
              issuer: 'https://id.example.com',
              audiences: ['orders'],
              jwksUri: 'https://id.example.com/jwks.json',
              jwksSecretRef: { name: 'jwks', key: 'jwks.json' },
            },
          }),
        'spec.routes[0].auth.jwt',
        /exactly one of jwksUri or jwksSecretRef/,
      ],
      [
        'a cache ttl of 0',
        (s) => (s.routes[0].cache = { ttl: '0s' }),
        'spec.routes[0].cache.ttl',
        /ttl must be greater than 0/,
      ],
      [
        'a cache maxBodyBytes above maxBytes',
        (s) => (s.routes[0].cache = { maxBytes: '1Mi', maxBodyBytes: 2097152 }),
        'spec.routes[0].cache.maxBodyBytes',
        /maxBodyBytes must be at most maxBytes/,
      ],
      [
        'a shadow body limit over 16Mi',
        (s) => (s.routes[0].shadow = { backend: 'orders', percent: 10, maxBodyBytes: '1Gi' }),
        'spec.routes[0].shadow.maxBodyBytes',
        /between 1 and 16Mi/,
      ],
      [
        'a route with neither backends nor compose',
        (s) => delete s.routes[0].backends,
        'spec.routes[0].backends',
        /list at least one backend, or compose/,
      ],
      [
        'backends beside compose',
        (s) => (s.routes[0].compose = { parts: [{ name: 'p', monolith: true, path: '/p' }] }),
        'spec.routes[0].backends',
        /list at least one backend, or compose/,
      ],
      [
        'two composition parts of one name',
        (s) => {
          delete s.routes[0].backends;
          s.routes[0].compose = {
            parts: [
              { name: 'p', monolith: true, path: '/p' },
              { name: 'p', backend: 'orders', path: '/q' },
            ],
          };
        },
        'spec.routes[0].compose.parts[1]',
        /Duplicate value/,
      ],
      [
        'a composition part with both a backend and monolith: true',
        (s) => {
          delete s.routes[0].backends;
          s.routes[0].compose = {
            parts: [{ name: 'p', backend: 'orders', monolith: true, path: '/p' }],
          };
        },
        'spec.routes[0].compose.parts[0]',
        /exactly one of backend or monolith: true/,
      ],
      [
        'nine composition parts',
        (s) => {
          delete s.routes[0].backends;
          s.routes[0].compose = {
            parts: Array.from({ length: 9 }, (_, i) => ({
              name: `p${i}`,
              monolith: true,
              path: '/p',
            })),
          };
        },
        'spec.routes[0].compose.parts',
        /must have at most 8 items/,
      ],
    ];

    test('accepts RE2 regexes that only look like lookaround, and any Exact value (dry run)', async () => {
      const route = validRoute('re2-lookalikes');
      route.spec.routes[0].match = {
        path: { type: 'RegularExpression', value: '/api/\\(?=x(?:a|b)?[?]' },
        headers: [
          { name: 'x-exact', value: '(?=not-a-regex' },
          { name: 'x-named', type: 'RegularExpression', value: '(?P<id>[0-9]+)-(?<n>x)' },
        ],
      };
      const created = await createApiRoute(route, 'All');
      expect(created.metadata.name).toBe('re2-lookalikes');
    });

    test.each(invalid)('rejects %s, naming the field', async (_what, breakIt, field, message) => {
      const route = validRoute('broken');
      breakIt(route.spec as Record<string, any>);
      const err = await createApiRoute(route, 'All').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(k8s.ApiException);
      const text = errorText(err);
      expect((err as k8s.ApiException<unknown>).code).toBe(422);
      expect(text).toContain(field);
      expect(text).toMatch(message);
    });

    test('the OpenAPI v3 document of figway.dev/v1alpha1 describes spec.routes', async () => {
      // The OpenAPI controller publishes a new CRD asynchronously.
      const schema = await eventually(
        'the ApiRoute schema in /openapi/v3',
        async () => {
          const res = await apiRequest(cluster, 'GET', `/openapi/v3/apis/${GROUP}/${VERSION}`);
          if (res.status !== 200) return undefined;
          const doc = JSON.parse(res.body) as { components?: { schemas?: Record<string, any> } };
          return doc.components?.schemas?.['dev.figway.v1alpha1.ApiRoute'];
        },
        30_000,
      );
      const spec = schema.properties?.spec;
      const routes = spec?.properties?.routes;
      expect(typeof spec?.description).toBe('string');
      expect(typeof routes?.description).toBe('string');
      expect(routes.description.length).toBeGreaterThan(10);
      const route = routes.items?.properties ?? {};
      for (const field of ['name', 'match', 'backends']) {
        expect({ field, description: route[field]?.description }).toEqual({
          field,
          description: expect.any(String),
        });
      }
    }, 60_000);

    test('deleting an ApiRoute garbage-collects the objects it owns', async () => {
      const owner = await createApiRoute({
        ...validRoute('gc-owner'),
        metadata: { name: 'gc-owner', namespace: ns },
      });
      const ownerReferences = [
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'ApiRoute',
          name: owner.metadata.name as string,
          uid: owner.metadata.uid as string,
          controller: true,
          blockOwnerDeletion: true,
        },
      ];
      await objects.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'gc-child', namespace: ns, ownerReferences },
        data: { routes: '[]' },
      });
      await objects.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'gc-child', namespace: ns, ownerReferences },
        spec: { selector: { app: 'gc-child' }, ports: [{ port: 80 }] },
      });
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: 'gc-owner',
        propagationPolicy: 'Background',
      });
      const gone = (read: () => Promise<unknown>) => async () =>
        read().then(
          () => undefined,
          (err: unknown) => {
            if (isNotFound(err)) return true;
            throw err;
          },
        );
      // The garbage collector learns of a new kind (the CRD) at its next discovery resync,
      // every 30s in kube-controller-manager: allow for one.
      await eventually(
        'ConfigMap gc-child to be collected',
        gone(() => core.readNamespacedConfigMap({ name: 'gc-child', namespace: ns })),
        60_000,
      );
      await eventually(
        'Service gc-child to be collected',
        gone(() => core.readNamespacedService({ name: 'gc-child', namespace: ns })),
        30_000,
      );
    }, 120_000);
  });

  test('a Deployment becomes Available: scheduled by kube-scheduler, run by kwok', async () => {
    const labels = { app: 'kwok-check' };
    await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'kwok-check', namespace: ns },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          // kwok pulls nothing: the image only has to be a valid reference.
          spec: { containers: [{ name: 'app', image: 'registry.invalid/figway/noop:1' }] },
        },
      },
    });
    const status = await eventually(
      'Deployment kwok-check to be Available',
      async () => {
        const d = await apps.readNamespacedDeploymentStatus({ name: 'kwok-check', namespace: ns });
        const available =
          d.status?.conditions?.find((c) => c.type === 'Available')?.status === 'True';
        return available && d.status?.availableReplicas === 2 ? d.status : undefined;
      },
      90_000,
    );
    expect(status.readyReplicas).toBe(2);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=kwok-check' });
    expect(pods.items.map((p) => p.spec?.nodeName)).toEqual([NODE_NAME, NODE_NAME]);
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  }, 120_000);

  // Last: it takes the API server away for a few seconds.
  test('restartApiServer brings the API server back on the same address with its data', async () => {
    const before = await core.readNamespace({ name: ns });
    await cluster.restartApiServer();
    const after = await core.readNamespace({ name: ns });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    const readyz = await apiRequest(cluster, 'GET', '/readyz');
    expect(readyz.status).toBe(200);
  }, 150_000);
});
