// No Prometheus Operator runs here, so its ServiceMonitor, PodMonitor and PrometheusRule
// objects are checked against the schemas of its CRDs, as generated into
// @kubernetes-models/prometheus-operator. (test/e2e/ runs the same rules and the same
// scrape labels in a real Prometheus.)
import { describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { CHART_FIXTURES, render, type K8sObject, type RenderOptions } from '../../tools/chart.js';

const MONITORING = ['monitoring.coreos.com/v1'];
const ALL_ON = [
  'metrics.serviceMonitor.enabled=true',
  'metrics.podMonitor.enabled=true',
  'metrics.prometheusRule.enabled=true',
];

function validate(object: K8sObject): void {
  switch (object.kind) {
    case 'ServiceMonitor':
      new ServiceMonitor(object as never).validate();
      return;
    case 'PodMonitor':
      new PodMonitor(object as never).validate();
      return;
    case 'PrometheusRule':
      new PrometheusRule(object as never).validate();
      return;
    default:
      throw new Error(`not a Prometheus Operator kind: ${object.kind}`);
  }
}

const cases: [string, RenderOptions][] = [
  ['default values with every monitor on', { set: ALL_ON, apiVersions: MONITORING }],
  [
    'non-default values',
    { valuesFiles: [join(CHART_FIXTURES, 'values-namespaced-ha.yaml')], apiVersions: MONITORING },
  ],
];

describe('Prometheus Operator objects match the upstream CRD schemas', () => {
  test.each(cases)('%s', async (_name, options) => {
    const objects = (await render(options)).filter((o) => o.apiVersion === MONITORING[0]);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'PodMonitor',
      'PrometheusRule',
      'ServiceMonitor',
    ]);
    for (const object of objects)
      expect(() => {
        validate(object);
      }).not.toThrow();
  });

  test('the schema check rejects a malformed monitor (it can fail)', async () => {
    const objects = await render({ set: ALL_ON, apiVersions: MONITORING });
    const podMonitor = structuredClone(objects.find((o) => o.kind === 'PodMonitor') as K8sObject);
    (podMonitor.spec as { podMetricsEndpoints: unknown[] }).podMetricsEndpoints = [
      { port: 9090, interval: 'often' },
    ];
    expect(() => {
      validate(podMonitor);
    }).toThrow();
  });
});
