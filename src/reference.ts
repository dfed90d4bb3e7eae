// The README sections generated from the code: the ApiRoute reference (from the schema)
// and the metrics reference (from the gateway's and the operator's registries). Kept
// beside cli.ts because it reads all three parts; `npm run generate` writes them and a
// test fails when the README drifts.
import { referenceMarkdown, replaceSection } from './api/generated-files.js';
import { metricsTable, type MetricDoc } from './common/metrics.js';
import { GATEWAY_METRICS } from './gateway/metrics.js';
import { OperatorMetrics } from './operator/metrics.js';

/** The operator's metrics as registered, so the table cannot forget one. */
async function operatorMetricDocs(): Promise<MetricDoc[]> {
  const { registry } = new OperatorMetrics({ processMetrics: false });
  const snapshots = await registry.getMetricsAsJSON();
  return snapshots.map((metric) => ({
    name: metric.name,
    type: String(metric.type) as MetricDoc['type'],
    labels: (registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] })
      .labelNames,
    help: metric.help,
  }));
}

/** The README with every generated section brought up to date. */
export async function updateReadme(readme: string): Promise<string> {
  const operator = await operatorMetricDocs();
  return [
    (text: string) => replaceSection(text, 'apiroute-reference', referenceMarkdown()),
    (text: string) => replaceSection(text, 'gateway-metrics', metricsTable(GATEWAY_METRICS)),
    (text: string) => replaceSection(text, 'operator-metrics', metricsTable(operator)),
  ].reduce((text, update) => update(text), readme);
}
