// The chart on a real control plane (test/cluster: kube-apiserver, etcd, controller-manager,
// scheduler, and kwok playing the kubelet): helm install, upgrade and uninstall, and an
// operator that runs with the chart's own ServiceAccount token and flags, proving the RBAC
// is enough for the operator and refuses what it does not need. This file starts its own
// control plane: a cluster-wide operator would otherwise reconcile other tests' ApiRoutes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { testClusterEnv } from '../../cluster/env.js';
import { apiRequest, startCluster, type Cluster } from '../../cluster/harness.js';
import {
  LEADER_ELECTION_CALLS,
  RECONCILE_CALLS,
  type ApiCall,
} from '../../fixtures/chart/operator-api-calls.js';
import { CHART_DIR, REPO_ROOT } from '../../tools/chart.js';
import { helm } from '../../tools/helm.js';
import {
  eventually,
  freePort,
  httpGet,
  startFigway,
  waitForHttp,
  type RunningProcess,
} from '../../tools/processes.js';
import { serviceAccountKubeConfig } from '../../tools/kube.js';

const RELEASE = 'figway';
const NS = 'figway-system';
const SA = 'figway'; // the release full name: "figway" already contains the chart name
const CRD = 'apiroutes.figway.dev';
const SA_USER = `system:serviceaccount:${NS}:${SA}`;

// The shared cluster's presence tells whether the binaries exist here (or, in CI, fails).
const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

interface Clients {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  ext: k8s.ApiextensionsV1Api;
  authz: k8s.AuthorizationV1Api;
  custom: k8s.CustomObjectsApi;
  coordination: k8s.CoordinationV1Api;
  policy: k8s.PolicyV1Api;
}

function clientsFor(kc: k8s.KubeConfig): Clients {
  return {
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
  };
}

function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown };
  return typeof e.code === 'number' ? e.code : undefined;
}

async function notFound(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (error) {
    if (statusOf(error) === 404) return true;
    throw error;
  }
}

/** A YAML text without the mapping key `name` (at any depth) and everything indented under it. */
function withoutProperty(text: string, name: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === `${name}:`);
  if (start < 0) throw new Error(`no key ${name} in the CRD template`);
  const indent = (line: string) => line.length - line.trimStart().length;
  let end = start + 1;
  while (end < lines.length && indent(lines[end] ?? '') > indent(lines[start] ?? '')) end += 1;
  return [...lines.slice(0, start), ...lines.slice(end)].join('\n');
}

describeCluster('the figway chart on a real control plane', () => {
  let cluster: Cluster;
  let admin: Clients;
  let adminConfig: k8s.KubeConfig;
  let work: string;
  const operators: RunningProcess[] = [];

  const chart = CHART_DIR;
  const helmArgs = () => ['--kubeconfig', cluster.kubeconfigPath, '--namespace', NS];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'figway-chart-it-'));
    cluster = await startCluster({ handleSignals: false, log: () => undefined });
    adminConfig = new k8s.KubeConfig();
    adminConfig.loadFromFile(cluster.kubeconfigPath);
    admin = clientsFor(adminConfig);
  }, 240_000);

  afterAll(async () => {
    for (const op of operators) await op.stop();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  async function createNamespace(prefix: string): Promise<string> {
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await admin.core.createNamespace({ body: { metadata: { name } } });
    return name;
  }

  /** Can the chart's ServiceAccount do this? Asked of the API server's own authorizer. */
  async function allowed(
    verb: string,
    group: string,
    resource: string,
    namespace?: string,
  ): Promise<boolean> {
    const [plural, subresource] = resource.split('/');
    const review = await admin.authz.createSubjectAccessReview({
      body: {
        spec: {
          user: SA_USER,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${NS}`,
            'system:authenticated',
          ],
          resourceAttributes: {
            verb,
            group,
            resource: plural,
            ...(subresource !== undefined && { subresource }),
            ...(namespace !== undefined && { namespace }),
          },
        },
      },
    });
    return review.status?.allowed === true;
  }

  async function deniedOf(calls: readonly ApiCall[], namespace?: string): Promise<string[]> {
    const denied: string[] = [];
    for (const call of calls)
      for (const verb of call.verbs)
        if (!(await allowed(verb, call.group, call.resource, namespace)))
          denied.push(`${verb} ${call.group}/${call.resource} in ${namespace ?? 'all namespaces'}`);
    return denied;
  }

  /** A kubeconfig holding a TokenRequest token of the chart's ServiceAccount. */
  async function serviceAccountKubeconfig(): Promise<string> {
    const kc = await serviceAccountKubeConfig(adminConfig, NS, SA);
    const path = join(work, `sa-${String(operators.length)}.kubeconfig`);
    writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
    return path;
  }

  /**
   * `figway operator` with the args of the installed Deployment, as the pod would run it,
   * except for what only a pod has: the admin port binds to loopback here and the
   * identity, which the kubelet would expand from $(POD_NAME), is spelled out.
   */
  async function startChartOperator(name: string): Promise<{ proc: RunningProcess; port: number }> {
    const deployment = await admin.apps.readNamespacedDeployment({
      name: `${RELEASE}-operator`,
      namespace: NS,
    });
    const container = deployment.spec?.template.spec?.containers[0];
    const args = container?.args ?? [];
    expect(args[0]).toBe('operator');
    const port = await freePort();
    const operatorArgs = args.slice(1).map((a) => {
      if (a.startsWith('--admin-port=')) return `--admin-port=${port}`;
      if (a === '--identity=$(POD_NAME)') return `--identity=${name}`;
      return a;
    });
    const proc = startFigway(
      name,
      [
        'operator',
        ...operatorArgs,
        '--admin-address=127.0.0.1',
        `--kubeconfig=${await serviceAccountKubeconfig()}`,
      ],
      join(work, `${name}.log`),
      { env: { POD_NAMESPACE: NS, POD_NAME: name } },
    );
    operators.push(proc);
    await waitForHttp(proc, `http://127.0.0.1:${port}/readyz`, 90_000);
    return { proc, port };
  }

  async function applyApiRoute(namespace: string, name: string): Promise<void> {
    const example = parse(
      readFileSync(join(REPO_ROOT, 'examples', 'orders-first-path.yaml'), 'utf8'),
    ) as {
      metadata: Record<string, unknown>;
      spec: { gateway?: { replicas?: number } };
    };
    example.metadata = { name, namespace };
    example.spec.gateway = { ...example.spec.gateway, replicas: 1 };
    await admin.custom.createNamespacedCustomObject({
      group: 'figway.dev',
      version: 'v1alpha1',
      plural: 'apiroutes',
      namespace,
      body: example,
    });
  }

  async function waitReady(namespace: string, name: string, op: RunningProcess): Promise<void> {
    const logTail = () =>
      `\n--- ${op.name} log (last lines) ---\n${op.log().split('\n').slice(-15).join('\n')}`;
    await eventually(
      `ApiRoute ${namespace}/${name} to be Ready (operator log ${op.logFile})`,
      async () => {
        const route = (await admin.custom.getNamespacedCustomObject({
          group: 'figway.dev',
          version: 'v1alpha1',
          plural: 'apiroutes',
          namespace,
          name,
        })) as { status?: { conditions?: { type: string; status: string }[] } };
        const ready = route.status?.conditions?.find((c) => c.type === 'Ready');
        return ready?.status === 'True' ? true : undefined;
      },
      120_000,
      500,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}${logTail()}`);
    });
  }

  function forbiddenInLog(op: RunningProcess): string[] {
    return op
      .log()
      .split('\n')
      .filter((line) => /forbidden|HTTP 403/i.test(line));
  }

  async function successfulReconciles(port: number): Promise<number> {
    const { body } = await httpGet(`http://127.0.0.1:${port}/metrics`);
    const line = body
      .split('\n')
      .find((l) =>
        l.startsWith('controller_runtime_reconcile_total{controller="apiroute",result="success"}'),
      );
    return Number(line?.split(' ').at(-1) ?? 'NaN');
  }

  test('helm install: the CRD is Established, the operator Deployment Available, the RBAC accepted', async () => {
    const out = await helm(
      ['install', RELEASE, chart, ...helmArgs(), '--create-namespace', '--wait', '--timeout', '3m'],
      { timeoutMs: 240_000 },
    );
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toMatch(/kubectl apply -f orders\.yaml/); // NOTES.txt

    const crd = await admin.ext.readCustomResourceDefinition({ name: CRD });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');

    const deployment = await admin.apps.readNamespacedDeployment({
      name: `${RELEASE}-operator`,
      namespace: NS,
    });
    expect(deployment.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    expect(deployment.status?.readyReplicas).toBe(1);
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe(SA);

    await admin.rbac.readClusterRole({ name: `${RELEASE}-operator` });
    await admin.rbac.readClusterRoleBinding({ name: `${RELEASE}-operator` });
    const service = await admin.core.readNamespacedService({
      name: `${RELEASE}-metrics`,
      namespace: NS,
    });
    expect(service.spec?.ports?.[0]?.targetPort).toBe('admin');
    await admin.core.readNamespacedConfigMap({ name: `${RELEASE}-dashboard`, namespace: NS });
  }, 300_000);

  test('the API server grants the chart ServiceAccount every call the operator makes, in any namespace', async () => {
    const ns = await createNamespace('anywhere');
    expect(await deniedOf(RECONCILE_CALLS, ns)).toEqual([]);
    // Informers list and watch across all namespaces.
    expect(await allowed('list', 'figway.dev', 'apiroutes')).toBe(true);
    expect(await allowed('watch', 'apps', 'deployments')).toBe(true);
  }, 60_000);

  test('and refuses what the operator does not need', async () => {
    const ns = await createNamespace('refused');
    const refused: [string, string, string][] = [
      // It reads Secrets (get, list, watch: no less than the gateway Roles it grants for
      // auth.apiKey), and never writes them.
      ['create', '', 'secrets'],
      ['update', '', 'secrets'],
      ['list', '', 'pods'],
      ['create', 'figway.dev', 'apiroutes'],
      ['update', 'figway.dev', 'apiroutes'],
      ['delete', 'figway.dev', 'apiroutes'],
      ['update', 'apps', 'deployments'],
      ['create', 'rbac.authorization.k8s.io', 'clusterroles'],
      ['create', 'rbac.authorization.k8s.io', 'clusterrolebindings'],
      ['escalate', 'rbac.authorization.k8s.io', 'roles'],
      ['bind', 'rbac.authorization.k8s.io', 'roles'],
      ['create', 'apiextensions.k8s.io', 'customresourcedefinitions'],
      ['create', '', 'pods/exec'],
      // Leader election is off at one replica: no Lease access at all.
      ['get', 'coordination.k8s.io', 'leases'],
    ];
    const granted: string[] = [];
    for (const [verb, group, resource] of refused)
      if (await allowed(verb, group, resource, ns)) granted.push(`${verb} ${group}/${resource}`);
    expect(granted).toEqual([]);
  }, 60_000);

  test('an ApiRoute applied after install is reconciled by an operator using the chart ServiceAccount token and flags', async () => {
    const ns = await createNamespace('shop');
    const { proc, port } = await startChartOperator('operator-cluster-wide');
    await applyApiRoute(ns, 'orders');
    await waitReady(ns, 'orders', proc);
    // Every object the operator owns was created through the chart's RBAC.
    for (const read of [
      () => admin.apps.readNamespacedDeployment({ name: 'orders-gateway', namespace: ns }),
      () => admin.core.readNamespacedService({ name: 'orders-gateway', namespace: ns }),
      () => admin.core.readNamespacedConfigMap({ name: 'orders-gateway', namespace: ns }),
      () => admin.core.readNamespacedServiceAccount({ name: 'orders-gateway', namespace: ns }),
      () => admin.rbac.readNamespacedRole({ name: 'orders-gateway', namespace: ns }),
      () => admin.rbac.readNamespacedRoleBinding({ name: 'orders-gateway', namespace: ns }),
    ])
      await read();
    const events = await admin.core.listNamespacedEvent({ namespace: ns });
    expect(events.items.some((e) => e.involvedObject.kind === 'ApiRoute')).toBe(true);
    expect(await successfulReconciles(port)).toBeGreaterThanOrEqual(1);
    expect(forbiddenInLog(proc)).toEqual([]);
    const exit = await proc.stop();
    expect(exit).toEqual({ code: 0, signal: null });
  }, 300_000);

  test('helm upgrade to namespaced mode with two replicas: no cluster-wide access, a Role per namespace, leader election', async () => {
    const watched = await createNamespace('watched');
    const other = await createNamespace('other');
    const out = await helm(
      [
        'upgrade',
        RELEASE,
        chart,
        ...helmArgs(),
        '--set',
        `operator.watchNamespaces={${watched}}`,
        '--set',
        'operator.replicas=2',
        '--wait',
        '--timeout',
        '3m',
      ],
      { timeoutMs: 240_000 },
    );
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toMatch(/REVISION: 2/);

    expect(await notFound(() => admin.rbac.readClusterRole({ name: `${RELEASE}-operator` }))).toBe(
      true,
    );
    expect(
      await notFound(() => admin.rbac.readClusterRoleBinding({ name: `${RELEASE}-operator` })),
    ).toBe(true);
    await admin.rbac.readNamespacedRole({ name: `${RELEASE}-operator`, namespace: watched });
    await admin.rbac.readNamespacedRole({ name: `${RELEASE}-leader-election`, namespace: NS });
    await admin.policy.readNamespacedPodDisruptionBudget({
      name: `${RELEASE}-operator`,
      namespace: NS,
    });
    const deployment = await admin.apps.readNamespacedDeployment({
      name: `${RELEASE}-operator`,
      namespace: NS,
    });
    expect(deployment.status?.readyReplicas).toBe(2);

    expect(await deniedOf(RECONCILE_CALLS, watched)).toEqual([]);
    expect(await deniedOf(LEADER_ELECTION_CALLS, NS)).toEqual([]);
    expect(await allowed('list', 'figway.dev', 'apiroutes')).toBe(false);
    expect(await allowed('list', 'figway.dev', 'apiroutes', other)).toBe(false);
    expect(await allowed('create', 'apps', 'deployments', other)).toBe(false);
    expect(await allowed('get', 'coordination.k8s.io', 'leases', watched)).toBe(false);

    // The operator, with the chart's token and flags, takes the Lease and reconciles.
    const { proc } = await startChartOperator('operator-namespaced');
    const lease = await eventually(
      'the operator to hold the Lease',
      async () => {
        const l = await admin.coordination.readNamespacedLease({
          name: `${RELEASE}-operator`,
          namespace: NS,
        });
        return l.spec?.holderIdentity === 'operator-namespaced' ? l : undefined;
      },
      60_000,
    );
    expect(lease.metadata?.namespace).toBe(NS);
    await applyApiRoute(watched, 'payments');
    await waitReady(watched, 'payments', proc);
    expect(forbiddenInLog(proc)).toEqual([]);
    const exit = await proc.stop();
    expect(exit).toEqual({ code: 0, signal: null });
  }, 360_000);

  test('helm uninstall removes the release and keeps the CRD and the ApiRoutes', async () => {
    const out = await helm(['uninstall', RELEASE, ...helmArgs(), '--wait', '--timeout', '3m'], {
      timeoutMs: 240_000,
    });
    expect(out).toMatch(/release "figway" uninstalled/);
    expect(
      await notFound(() =>
        admin.apps.readNamespacedDeployment({ name: `${RELEASE}-operator`, namespace: NS }),
      ),
    ).toBe(true);
    expect(
      await notFound(() => admin.core.readNamespacedServiceAccount({ name: SA, namespace: NS })),
    ).toBe(true);
    expect(
      await notFound(() =>
        admin.rbac.readNamespacedRole({ name: `${RELEASE}-leader-election`, namespace: NS }),
      ),
    ).toBe(true);
    expect(
      await notFound(() =>
        admin.core.readNamespacedService({ name: `${RELEASE}-metrics`, namespace: NS }),
      ),
    ).toBe(true);
    // crds.keep: helm.sh/resource-policy keep. Deleting the CRD would delete every ApiRoute.
    await admin.ext.readCustomResourceDefinition({ name: CRD });
    const routes = (await admin.custom.listClusterCustomObject({
      group: 'figway.dev',
      version: 'v1alpha1',
      plural: 'apiroutes',
    })) as { items: unknown[] };
    expect(routes.items.length).toBe(2);
  }, 300_000);

  test('monitors need the Prometheus Operator API: refused without it, installed with it', async () => {
    // A second release of the chart leaves the CRD to the first one.
    const monitors = [
      '--set',
      'crds.install=false',
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.podMonitor.enabled=true',
      '--set',
      'metrics.prometheusRule.enabled=true',
    ];
    // helm asks the API server's discovery, not --api-versions, on a real install.
    await expect(
      helm(['install', 'monitored', chart, ...helmArgs(), ...monitors], { timeoutMs: 120_000 }),
    ).rejects.toThrow(
      /no monitoring\.coreos\.com\/v1 API: install the Prometheus Operator CRDs first/,
    );

    // Stand-ins for the Prometheus Operator CRDs: they make the API exist but check nothing
    // (the objects are checked against the real schemas in test/unit/chart/monitoring).
    for (const [kind, plural] of [
      ['ServiceMonitor', 'servicemonitors'],
      ['PodMonitor', 'podmonitors'],
      ['PrometheusRule', 'prometheusrules'],
    ] as const) {
      // Raw JSON: client-node's typed serializer drops x-kubernetes-* keys.
      const created = await apiRequest(
        cluster,
        'POST',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        {
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: `${plural}.monitoring.coreos.com` },
          spec: {
            group: 'monitoring.coreos.com',
            scope: 'Namespaced',
            names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
            ],
          },
        },
      );
      expect(created.status).toBe(201);
    }
    await eventually(
      'the monitoring.coreos.com/v1 API to be discoverable',
      async () => {
        const out = await helm([
          'template',
          'x',
          chart,
          '--kubeconfig',
          cluster.kubeconfigPath,
          '--validate',
          ...monitors,
        ]);
        return out.includes('kind: PrometheusRule') ? true : undefined;
      },
      60_000,
      1_000,
    );
    const out = await helm(['install', 'monitored', chart, ...helmArgs(), ...monitors], {
      timeoutMs: 120_000,
    });
    expect(out).toMatch(/STATUS: deployed/);
    const custom = admin.custom;
    for (const plural of ['servicemonitors', 'podmonitors', 'prometheusrules']) {
      const list = (await custom.listNamespacedCustomObject({
        group: 'monitoring.coreos.com',
        version: 'v1',
        namespace: NS,
        plural,
      })) as { items: unknown[] };
      expect(list.items).toHaveLength(1);
    }
    await helm(['uninstall', 'monitored', ...helmArgs(), '--wait'], { timeoutMs: 120_000 });
  }, 240_000);
  test('helm upgrade upgrades the CRD (it is a template, not a crds/ file Helm never upgrades)', async () => {
    // The chart as an older version would have it: the same CRD without spec.gateway.priorityClassName.
    const older = join(work, 'figway-older');
    cpSync(chart, older, { recursive: true });
    const template = join(older, 'templates', 'crd.yaml');
    writeFileSync(template, withoutProperty(readFileSync(template, 'utf8'), 'priorityClassName'));
    const gatewayFields = async () => {
      const crd = await admin.ext.readCustomResourceDefinition({ name: CRD });
      const spec = crd.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec;
      return Object.keys(spec?.properties?.gateway?.properties ?? {});
    };
    // The release that kept the CRD at uninstall takes it over again (same release name).
    await helm(
      ['install', RELEASE, older, ...helmArgs(), '--create-namespace', '--wait', '--timeout', '3m'],
      {
        timeoutMs: 240_000,
      },
    );
    expect(await gatewayFields()).not.toContain('priorityClassName');
    expect(await gatewayFields()).toContain('replicas');
    const out = await helm(
      ['upgrade', RELEASE, chart, ...helmArgs(), '--wait', '--timeout', '3m'],
      {
        timeoutMs: 240_000,
      },
    );
    expect(out).toMatch(/STATUS: deployed/);
    expect(await gatewayFields()).toContain('priorityClassName');
    const crd = await admin.ext.readCustomResourceDefinition({ name: CRD });
    expect(crd.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(crd.metadata?.annotations?.['meta.helm.sh/release-name']).toBe(RELEASE);
    await helm(['uninstall', RELEASE, ...helmArgs(), '--wait'], { timeoutMs: 120_000 });
    await admin.ext.readCustomResourceDefinition({ name: CRD });
  }, 360_000);
});
