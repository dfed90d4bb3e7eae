// What a platform team needs from the chart: it composes as a subchart, its gateway values
// reach every gateway, scraping works with and without the Prometheus Operator, every alert
// has a runbook, `helm test` checks the operator, and the README's values table is current.
import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { updateChartReadme } from '../../../src/chart-values.js';
import { parseSettingsFlags } from '../../../src/operator/flags.js';
import { CHART_DIR, only, parseObjects, render, type K8sObject } from '../../tools/chart.js';
import { helm, runHelm } from '../../tools/helm.js';

const MONITORING = 'monitoring.coreos.com/v1';

interface Container {
  args: string[];
  command?: string[];
  env?: { name: string; value: string }[];
}
const operatorPod = (objects: K8sObject[]) =>
  (
    only(objects, 'Deployment', '-operator').spec as {
      template: {
        metadata: { annotations?: Record<string, string> };
        spec: { containers: Container[] };
      };
    }
  ).template;

/** The settings the operator parses from the flags the chart renders. */
async function operatorSettings(set: string[]) {
  const args = operatorPod(await render({ set })).spec.containers[0]?.args ?? [];
  const settingsFlags = args.filter((a) => a.startsWith('--image') || a.startsWith('--gateway-'));
  return parseSettingsFlags(settingsFlags).settings;
}

describe('as a subchart', () => {
  test('an umbrella chart that depends on figway and passes global values lints and renders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'figway-umbrella-'));
    try {
      mkdirSync(join(dir, 'platform'));
      writeFileSync(
        join(dir, 'platform', 'Chart.yaml'),
        [
          'apiVersion: v2',
          'name: platform',
          'version: 1.0.0',
          'dependencies:',
          '  - name: figway',
          '    version: ">=0.0.0-0"',
          `    repository: file://${CHART_DIR}`,
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'platform', 'values.yaml'),
        'global:\n  imageRegistry: registry.example.com\nfigway:\n  operator:\n    logLevel: debug\n',
      );
      mkdirSync(join(dir, 'platform', 'templates'));
      writeFileSync(
        join(dir, 'platform', 'templates', 'configmap.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform\ndata:\n  registry: {{ .Values.global.imageRegistry }}\n',
      );
      await helm(['dependency', 'build', join(dir, 'platform')]);
      const lint = await helm(['lint', '--strict', join(dir, 'platform')]);
      expect(lint).toContain('0 chart(s) failed');
      const objects = parseObjects(
        await helm(['template', 'platform', join(dir, 'platform'), '--namespace', 'platform']),
      );
      expect(operatorPod(objects).spec.containers[0]?.args).toContain('--log-level=debug');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gateway values are the defaults of every gateway', () => {
  test('by default the operator gets no gateway defaults and scrape annotations on', async () => {
    const settings = await operatorSettings([]);
    expect(settings.gatewayPod).toEqual({});
    expect(settings.scrapeAnnotations).toBe(true);
  });

  test('placement, Service, env and the chart imagePullSecrets reach the operator, validated', async () => {
    const settings = await operatorSettings([
      'imagePullSecrets[0].name=registry',
      'gateway.nodeSelector.pool=edge',
      'gateway.tolerations[0].key=edge',
      'gateway.tolerations[0].operator=Exists',
      'gateway.priorityClassName=gateway-critical',
      'gateway.podLabels.team=platform',
      'gateway.serviceAccount.annotations.role=gateways',
      'gateway.service.type=LoadBalancer',
      'gateway.service.loadBalancerClass=example.com/lb',
      'gateway.service.externalTrafficPolicy=Local',
      'gateway.env[0].name=TZ',
      'gateway.env[0].value=UTC',
      'metrics.scrapeAnnotations=false',
    ]);
    expect(settings.gatewayPod).toEqual({
      imagePullSecrets: [{ name: 'registry' }],
      nodeSelector: { pool: 'edge' },
      tolerations: [{ key: 'edge', operator: 'Exists' }],
      priorityClassName: 'gateway-critical',
      podLabels: { team: 'platform' },
      serviceAccount: { annotations: { role: 'gateways' } },
      service: {
        type: 'LoadBalancer',
        loadBalancerClass: 'example.com/lb',
        externalTrafficPolicy: 'Local',
      },
      env: [{ name: 'TZ', value: 'UTC' }],
    });
    expect(settings.scrapeAnnotations).toBe(false);
  });

  test.each([
    [['gateway.service.type=Ingress'], /type/],
    [['gateway.service.loadBalancerClass=x'], /type/],
    [['gateway.service.externalTrafficPolicy=Local'], /type/],
    [['gateway.env[0].name=NODE_OPTIONS'], /env/],
    [['gateway.tolerations[0].operator=Maybe'], /operator/],
  ])('values.schema.json refuses %j', async (set, field) => {
    const result = await runHelm([
      'template',
      'figway',
      CHART_DIR,
      ...set.flatMap((s) => ['--set', s]),
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(field);
  });
});

describe('scraping', () => {
  test('prometheus.io annotations on the operator pod, off with metrics.scrapeAnnotations=false', async () => {
    expect(operatorPod(await render()).metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
    const off = operatorPod(await render({ set: ['metrics.scrapeAnnotations=false'] }));
    expect(off.metadata.annotations).toBeUndefined();
    expect(off.spec.containers[0]?.args).toContain('--gateway-scrape-annotations=false');
  });

  test('relabelings and metricRelabelings reach the ServiceMonitor and the PodMonitor', async () => {
    const relabel = (prefix: string) => [
      `${prefix}.enabled=true`,
      `${prefix}.relabelings[0].targetLabel=cluster`,
      `${prefix}.relabelings[0].replacement=eu-1`,
      `${prefix}.metricRelabelings[0].action=drop`,
      `${prefix}.metricRelabelings[0].regex=figway_operator_process_.*`,
    ];
    const objects = await render({
      set: [...relabel('metrics.serviceMonitor'), ...relabel('metrics.podMonitor')],
      apiVersions: [MONITORING],
    });
    const endpoint = (kind: string, key: string) =>
      ((
        only(objects, kind).spec as Record<
          string,
          { relabelings?: object[]; metricRelabelings?: object[] }[]
        >
      )[key] ?? [])[0];
    const service = endpoint('ServiceMonitor', 'endpoints');
    expect(service?.relabelings).toEqual([{ targetLabel: 'cluster', replacement: 'eu-1' }]);
    expect(service?.metricRelabelings).toEqual([
      { action: 'drop', regex: 'figway_operator_process_.*' },
    ]);
    const pod = endpoint('PodMonitor', 'podMetricsEndpoints');
    // The chart's own relabeling (the apiroute label) stays first.
    expect(pod?.relabelings).toEqual([
      {
        sourceLabels: ['__meta_kubernetes_pod_label_figway_dev_apiroute'],
        targetLabel: 'apiroute',
      },
      { targetLabel: 'cluster', replacement: 'eu-1' },
    ]);
    expect(pod?.metricRelabelings).toEqual([
      { action: 'drop', regex: 'figway_operator_process_.*' },
    ]);
  });
});

describe('alerts', () => {
  async function rules() {
    const objects = await render({
      set: ['metrics.prometheusRule.enabled=true'],
      apiVersions: [MONITORING],
    });
    return (
      only(objects, 'PrometheusRule').spec as {
        groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
      }
    ).groups.flatMap((g) => g.rules);
  }

  test('every alert has a runbook_url, and the chart README has that section', async () => {
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    // GitHub's anchors: the heading in lower case.
    const anchors = new Set(
      [...readme.matchAll(/^### (\w+)$/gm)].map((m) => (m[1] as string).toLowerCase()),
    );
    const all = await rules();
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const rule of all) {
      expect(rule.annotations.runbook_url).toBe(
        `https://github.com/figway/figway/blob/main/charts/figway/README.md#${rule.alert.toLowerCase()}`,
      );
      expect(anchors).toContain(rule.alert.toLowerCase());
    }
  });

  test('ApiRoutes that are not Accepted alert, from the operator condition gauge', async () => {
    const rule = (await rules()).find((r) => r.alert === 'FigwayApiRouteNotAccepted');
    expect(rule?.expr).toContain('figway_operator_apiroutes{condition="Accepted",status="False"}');
  });
});

describe('NetworkPolicy', () => {
  test('off by default', async () => {
    expect((await render()).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  test('ingress only to the admin port, egress only to DNS, the API server and extraEgress', async () => {
    const objects = await render({
      set: [
        'networkPolicy.enabled=true',
        'networkPolicy.apiServer.cidrs={10.0.0.1/32}',
        'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring',
        'networkPolicy.extraEgress[0].ports[0].port=9090',
      ],
    });
    const policy = only(objects, 'NetworkPolicy').spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: { ports: { port: string }[]; from: object[] }[];
      egress: { ports: { port: number; protocol: string }[]; to?: object[] }[];
    };
    const operator = only(objects, 'Deployment', '-operator').spec as {
      selector: { matchLabels: Record<string, string> };
    };
    expect(policy.podSelector).toEqual(operator.selector);
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.ingress).toEqual([
      {
        ports: [{ port: 'admin', protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }],
      },
    ]);
    expect(policy.egress.map((e) => e.ports.map((p) => p.port))).toEqual([
      [53, 53],
      [443, 6443],
      [9090],
    ]);
    expect(policy.egress[1]?.to).toEqual([{ ipBlock: { cidr: '10.0.0.1/32' } }]);
  });
});

describe('helm test', () => {
  async function testPod() {
    const objects = parseObjects(
      await helm([
        'template',
        'figway',
        CHART_DIR,
        '--namespace',
        'figway-system',
        '--show-only',
        'templates/tests/operator.yaml',
      ]),
    );
    const pod = only(objects, 'Pod');
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    return (pod.spec as { containers: Container[] }).containers[0] as Container;
  }

  /** Runs the hook's command with the local node against a stand-in operator. */
  async function runAgainst(answer: (path: string) => [number, string]): Promise<number | null> {
    const container = await testPod();
    const server = createServer((req, res) => {
      const [status, body] = answer(req.url ?? '');
      res.writeHead(status).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const [command, ...args] = container.command ?? [];
      expect(command).toBe('node');
      // Asynchronously: the stand-in answers from this process's event loop.
      const child = spawn(process.execPath, args, {
        env: { FIGWAY_OPERATOR_URL: `http://127.0.0.1:${port}` },
        stdio: 'ignore',
        timeout: 30_000,
      });
      return await new Promise<number | null>((resolve) => child.on('close', resolve));
    } finally {
      server.close();
    }
  }

  test('checks the operator through its metrics Service', async () => {
    const container = await testPod();
    expect(container.env).toEqual([
      { name: 'FIGWAY_OPERATOR_URL', value: 'http://figway-metrics.figway-system.svc:9090' },
    ]);
  });

  test('passes against a ready operator with metrics, fails when not ready or without them', async () => {
    const healthy = (path: string): [number, string] =>
      path === '/readyz'
        ? [200, 'ok']
        : [200, 'figway_operator_reconciles_total{result="success"} 1\n'];
    expect(await runAgainst(healthy)).toBe(0);
    expect(
      await runAgainst((path) => (path === '/readyz' ? [503, 'not ready'] : healthy(path))),
    ).toBe(1);
    expect(
      await runAgainst((path) => (path === '/readyz' ? [200, 'ok'] : [200, 'other_metric 1\n'])),
    ).toBe(1);
  });
});

describe('chart README and icon', () => {
  test('the values table is generated from values.yaml and values.schema.json (run `npm run generate`)', () => {
    const read = (file: string) => readFileSync(join(CHART_DIR, file), 'utf8');
    const readme = read('README.md');
    expect(updateChartReadme(readme, read('values.yaml'), read('values.schema.json'))).toBe(readme);
    expect(readme).toContain(
      '| `gateway.service.type` | "ClusterIP" \\| "NodePort" \\| "LoadBalancer" | `"ClusterIP"` |',
    );
  });

  test('Chart.yaml names an icon that is in the repository', () => {
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { icon: string };
    const prefix = 'https://raw.githubusercontent.com/figway/figway/main/';
    expect(chart.icon.startsWith(prefix)).toBe(true);
    const file = readFileSync(join(CHART_DIR, '..', '..', chart.icon.slice(prefix.length)), 'utf8');
    expect(file).toMatch(/^<svg /);
  });
});
