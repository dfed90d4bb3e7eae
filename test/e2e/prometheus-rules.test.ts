// The chart's PrometheusRule, checked by Prometheus's own promtool: `promtool check rules`
// for syntax, and `promtool test rules` with synthetic series for what each alert means —
// it fires when it should and stays quiet when it should not.
import { afterAll, describe, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { only, render } from '../tools/chart.js';
import { findTool, testWithTool } from '../tools/require-tool.js';

const promtool = findTool('promtool', 'FIGWAY_PROMTOOL');
const withPromtool = testWithTool(
  'promtool',
  promtool,
  'apt-get install -y prometheus (Debian; includes promtool)',
);
const work = mkdtempSync(join(tmpdir(), 'figway-rules-'));

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

interface RuleGroup {
  rules: { alert: string; annotations?: unknown }[];
}

/**
 * The rendered PrometheusRule's groups as a Prometheus rule file. `promtool test rules`
 * compares annotations verbatim, so tests of what fires drop them (`check rules` still
 * parses their templates).
 */
async function ruleFile(
  name: string,
  values: Record<string, unknown> = {},
  options: { withoutAnnotations?: boolean } = {},
): Promise<string> {
  const valuesFile = join(work, `${name}.values.yaml`);
  writeFileSync(
    valuesFile,
    stringify({ metrics: { prometheusRule: { enabled: true, ...values } } }),
  );
  const objects = await render({
    valuesFiles: [valuesFile],
    apiVersions: ['monitoring.coreos.com/v1'],
  });
  const groups = (only(objects, 'PrometheusRule').spec as { groups: RuleGroup[] }).groups;
  if (options.withoutAnnotations) {
    for (const group of groups) for (const rule of group.rules) delete rule.annotations;
  }
  const path = join(work, `${name}.rules.yaml`);
  writeFileSync(path, stringify({ groups }));
  return path;
}

function runPromtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(promtool as string, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// Series of a gateway pod as the PodMonitor labels them.
const gw = (route: string, backend: string, codeClass: string, apiroute = 'orders') =>
  `figway_gateway_requests_total{namespace="shop", apiroute="${apiroute}", pod="${apiroute}-gateway-1", route="${route}", backend="${backend}", method="GET", code_class="${codeClass}"}`;
/** A counter rising by `perMinute` each minute for an hour. */
const rising = (perMinute: number) => `0+${perMinute}x60`;

interface AlertCase {
  series: { series: string; values: string }[];
  alertname: string;
  /** Labels of the alerts expected at eval time, beyond alertname and severity. */
  firing: Record<string, string>[];
  evalTime?: string;
}

const ROUTE_LABELS = (route: string, apiroute = 'orders') => ({
  namespace: 'shop',
  apiroute,
  route,
});

const cases: Record<string, AlertCase> = {
  'FigwayGatewayHigh5xxRatio fires for a route above 5% 5xx, not for one at 1%': {
    alertname: 'FigwayGatewayHigh5xxRatio',
    series: [
      { series: gw('bad', 'orders', '2xx'), values: rising(90) },
      { series: gw('bad', 'orders', '5xx'), values: rising(10) },
      { series: gw('fine', 'orders', '2xx'), values: rising(99) },
      { series: gw('fine', 'orders', '5xx'), values: rising(1) },
      // Clients that went away are not the gateway's errors.
      { series: gw('fine', 'orders', 'aborted'), values: rising(50) },
    ],
    firing: [ROUTE_LABELS('bad')],
  },
  'FigwayNewServiceErrorsAboveMonolith: new 10% vs monolith 0% (no 5xx series) fires; 3% vs 2% does not; a fully migrated route compares with 0':
    {
      alertname: 'FigwayNewServiceErrorsAboveMonolith',
      series: [
        { series: gw('worse', 'orders', '2xx'), values: rising(90) },
        { series: gw('worse', 'orders', '5xx'), values: rising(10) },
        { series: gw('worse', 'monolith', '2xx'), values: rising(300) },
        { series: gw('close', 'orders', '2xx'), values: rising(97) },
        { series: gw('close', 'orders', '5xx'), values: rising(3) },
        { series: gw('close', 'monolith', '2xx'), values: rising(98) },
        { series: gw('close', 'monolith', '5xx'), values: rising(2) },
        { series: gw('migrated', 'orders', '2xx'), values: rising(90) },
        { series: gw('migrated', 'orders', '5xx'), values: rising(10) },
        { series: gw('healthy', 'orders', '2xx'), values: rising(100) },
        { series: gw('healthy', 'monolith', '2xx'), values: rising(100) },
      ],
      firing: [ROUTE_LABELS('migrated'), ROUTE_LABELS('worse')],
    },
  'FigwayHighFallbackRate fires above 1 fallback per second': {
    alertname: 'FigwayHighFallbackRate',
    series: [
      {
        series: `figway_gateway_fallbacks_total{namespace="shop", apiroute="orders", pod="p", route="falls", backend="orders"}`,
        values: rising(120),
      },
      {
        series: `figway_gateway_fallbacks_total{namespace="shop", apiroute="orders", pod="p", route="rare", backend="orders"}`,
        values: rising(30),
      },
    ],
    firing: [ROUTE_LABELS('falls')],
  },
  'FigwayGatewayConfigRejected fires at once on one rejected route table': {
    alertname: 'FigwayGatewayConfigRejected',
    evalTime: '3m',
    series: [
      {
        series: `figway_gateway_config_reloads_total{namespace="shop", apiroute="orders", pod="orders-gateway-1", result="invalid"}`,
        values: '0 0 1 1 1',
      },
      {
        series: `figway_gateway_config_reloads_total{namespace="shop", apiroute="orders", pod="orders-gateway-1", result="success"}`,
        values: '1 2 3 4 5',
      },
      {
        series: `figway_gateway_config_reloads_total{namespace="shop", apiroute="cart", pod="cart-gateway-1", result="invalid"}`,
        values: '0 0 0 0 0',
      },
    ],
    firing: [{ namespace: 'shop', apiroute: 'orders', pod: 'orders-gateway-1' }],
  },
  'FigwayOperatorDown fires when the operator target is down': {
    alertname: 'FigwayOperatorDown',
    series: [
      { series: 'up{job="figway-metrics", namespace="figway-system", pod="op-1"}', values: '0x60' },
    ],
    firing: [{ job: 'figway-metrics', namespace: 'figway-system' }],
  },
  'FigwayOperatorDown stays quiet while the operator is up': {
    alertname: 'FigwayOperatorDown',
    series: [
      { series: 'up{job="figway-metrics", namespace="figway-system", pod="op-1"}', values: '1x60' },
    ],
    firing: [],
  },
  'FigwayOperatorDown fires when the operator is not scraped at all': {
    alertname: 'FigwayOperatorDown',
    series: [{ series: 'up{job="something-else", namespace="figway-system"}', values: '1x60' }],
    firing: [{ job: 'figway-metrics', namespace: 'figway-system' }],
  },
  'FigwayReconcileErrors fires on retried errors and conflicts, not on successes': {
    alertname: 'FigwayReconcileErrors',
    series: [
      {
        series:
          'controller_runtime_reconcile_total{controller="apiroute", namespace="figway-system", pod="op-1", result="error"}',
        values: rising(5),
      },
      {
        series:
          'controller_runtime_reconcile_total{controller="apiroute", namespace="figway-system", pod="op-2", result="conflict"}',
        values: rising(1),
      },
      {
        series:
          'controller_runtime_reconcile_total{controller="apiroute", namespace="figway-system", pod="op-3", result="success"}',
        values: rising(50),
      },
      {
        series:
          'controller_runtime_reconcile_total{controller="apiroute", namespace="figway-system", pod="op-3", result="error"}',
        values: '0x60',
      },
    ],
    firing: [
      { namespace: 'figway-system', pod: 'op-1' },
      { namespace: 'figway-system', pod: 'op-2' },
    ],
  },
  'FigwayApiRouteNotAccepted fires while an ApiRoute has Accepted=False, not for accepted ones': {
    alertname: 'FigwayApiRouteNotAccepted',
    series: [
      // The operator's count of ApiRoutes by condition (the leader's; a standby reports 0).
      {
        series:
          'figway_operator_apiroutes{job="figway-metrics", namespace="figway-system", pod="op-1", condition="Accepted", status="False"}',
        values: '1x60',
      },
      {
        series:
          'figway_operator_apiroutes{job="figway-metrics", namespace="figway-system", pod="op-2", condition="Accepted", status="False"}',
        values: '0x60',
      },
      {
        series:
          'figway_operator_apiroutes{job="figway-metrics", namespace="figway-system", pod="op-1", condition="Accepted", status="True"}',
        values: '4x60',
      },
      {
        series:
          'figway_operator_apiroutes{job="figway-metrics", namespace="figway-system", pod="op-1", condition="Ready", status="False"}',
        values: '2x60',
      },
    ],
    firing: [{ job: 'figway-metrics', namespace: 'figway-system' }],
  },
  'FigwayApiRouteNotAccepted stays quiet when every ApiRoute is accepted': {
    alertname: 'FigwayApiRouteNotAccepted',
    series: [
      {
        series:
          'figway_operator_apiroutes{job="figway-metrics", namespace="figway-system", pod="op-1", condition="Accepted", status="False"}',
        values: '0x60',
      },
    ],
    firing: [],
  },
  'FigwayMigrationRolledBack fires at once for a rolled-back route, not for a progressing one': {
    alertname: 'FigwayMigrationRolledBack',
    evalTime: '2m',
    series: [
      // The operator's series carry the ApiRoute's namespace (the ServiceMonitor honors it).
      {
        series:
          'figway_operator_migration_phase{namespace="shop", apiroute="orders", route="api", pod="op-1", phase="RolledBack"}',
        values: '0 1 1',
      },
      {
        series:
          'figway_operator_migration_phase{namespace="shop", apiroute="orders", route="api", pod="op-1", phase="Progressing"}',
        values: '1 0 0',
      },
      {
        series:
          'figway_operator_migration_phase{namespace="shop", apiroute="cart", route="api", pod="op-1", phase="RolledBack"}',
        values: '0 0 0',
      },
    ],
    firing: [ROUTE_LABELS('api')],
  },
};

const SEVERITY: Record<string, string> = { FigwayOperatorDown: 'critical' };

describe('the PrometheusRule rendered from the chart', () => {
  withPromtool('promtool check rules passes for default and non-default thresholds', async () => {
    for (const [name, values] of [
      ['default', {}],
      ['custom', { for: '1m', gateway5xxRatio: 0.2, fallbackRate: 0.5 }],
    ] as const) {
      const { status, output } = runPromtool(['check', 'rules', await ruleFile(name, values)]);
      expect(output).toMatch(/SUCCESS: 8 rules found/);
      expect(status).toBe(0);
    }
  });

  withPromtool('promtool test rules: each alert fires exactly when it should', async () => {
    const rules = await ruleFile('under-test', {}, { withoutAnnotations: true });
    const tests = Object.entries(cases).map(([name, c]) => ({
      name,
      interval: '1m',
      input_series: c.series,
      alert_rule_test: [
        {
          eval_time: c.evalTime ?? '15m',
          alertname: c.alertname,
          exp_alerts: c.firing.map((labels) => ({
            exp_labels: { severity: SEVERITY[c.alertname] ?? 'warning', ...labels },
          })),
        },
      ],
    }));
    const testFile = join(work, 'alerts.test.yaml');
    writeFileSync(testFile, stringify({ rule_files: [rules], evaluation_interval: '1m', tests }));
    const { status, output } = runPromtool(['test', 'rules', testFile]);
    expect(output).toMatch(/SUCCESS/);
    expect(status).toBe(0);
  });

  withPromtool(
    'promtool test rules fails when an expectation is wrong (the test can fail)',
    async () => {
      const rules = await ruleFile('negative', {}, { withoutAnnotations: true });
      const testFile = join(work, 'wrong.test.yaml');
      const wrong = cases[
        'FigwayGatewayHigh5xxRatio fires for a route above 5% 5xx, not for one at 1%'
      ] as AlertCase;
      writeFileSync(
        testFile,
        stringify({
          rule_files: [rules],
          evaluation_interval: '1m',
          tests: [
            {
              interval: '1m',
              input_series: wrong.series,
              alert_rule_test: [
                {
                  eval_time: '15m',
                  alertname: wrong.alertname,
                  // Claims the healthy route alerts too.
                  exp_alerts: [ROUTE_LABELS('bad'), ROUTE_LABELS('fine')].map((labels) => ({
                    exp_labels: { severity: 'warning', ...labels },
                  })),
                },
              ],
            },
          ],
        }),
      );
      const { status, output } = runPromtool(['test', 'rules', testFile]);
      expect(output).toMatch(/FAILED/);
      expect(status).not.toBe(0);
    },
  );
});
