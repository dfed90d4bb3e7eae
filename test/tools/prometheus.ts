// A real Prometheus (Debian's `prometheus`) for a test: scrape configs for the given
// targets, optional rule files, a fresh TSDB in the test's work directory, and helpers
// that read its HTTP API. Stopped by pid like every test process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { only, render } from './chart.js';
import {
  eventually,
  freePort,
  httpGet,
  startProcess,
  waitForHttp,
  type RunningProcess,
} from './processes.js';
import { findTool, IN_CI } from './require-tool.js';

export const PROMETHEUS_INSTALL = 'apt-get install -y prometheus (Debian; includes promtool)';
export const prometheusBin = findTool('prometheus', 'FIGWAY_PROMETHEUS');
if (!prometheusBin && IN_CI) throw new Error(`prometheus is required in CI: ${PROMETHEUS_INSTALL}`);

export interface ScrapeTarget {
  job: string;
  /** host:port of a /metrics endpoint. */
  target: string;
  /** Target labels, as a ServiceMonitor or PodMonitor would give them. */
  labels: Record<string, string>;
  /** The scraped series' own labels win over the target's (the chart's ServiceMonitor). */
  honorLabels?: boolean;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  process: RunningProcess;
  port: number;
  url: string;
  query(promql: string): Promise<PromSample[]>;
  /** Polls `promql` until `accept` likes the result; the error shows the last one. */
  waitFor(
    what: string,
    promql: string,
    accept: (result: PromSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  alerts(): Promise<{ labels: Record<string, string>; state: string }[]>;
}

export async function startPrometheus(options: {
  work: string;
  targets: readonly ScrapeTarget[];
  /** Rule groups (the `groups` of a rules file). */
  ruleGroups?: unknown;
  scrapeInterval?: string;
}): Promise<RunningPrometheus> {
  if (!prometheusBin) throw new Error(`prometheus is not installed: ${PROMETHEUS_INSTALL}`);
  const interval = options.scrapeInterval ?? '1s';
  const ruleFiles: string[] = [];
  if (options.ruleGroups !== undefined) {
    const file = join(options.work, 'rules.yaml');
    writeFileSync(file, stringify({ groups: options.ruleGroups }));
    ruleFiles.push(file);
  }
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: ruleFiles,
    scrape_configs: options.targets.map((t) => ({
      job_name: t.job,
      ...(t.honorLabels === true && { honor_labels: true }),
      static_configs: [{ targets: [t.target], labels: t.labels }],
    })),
  };
  const port = await freePort();
  writeFileSync(join(options.work, 'prometheus.yml'), stringify(config));
  mkdirSync(join(options.work, 'tsdb'), { recursive: true });
  const proc = startProcess(
    'prometheus',
    prometheusBin,
    [
      `--config.file=${join(options.work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(options.work, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    join(options.work, 'prometheus.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(proc, `${url}/-/ready`, 60_000);
  const query = async (promql: string): Promise<PromSample[]> => {
    const { status, body } = await httpGet(
      `${url}/api/v1/query?query=${encodeURIComponent(promql)}`,
    );
    const parsed = JSON.parse(body) as {
      status: string;
      error?: string;
      data?: { result: PromSample[] };
    };
    if (status !== 200 || parsed.status !== 'success')
      throw new Error(`Prometheus query ${promql} failed: ${parsed.error ?? body}`);
    return parsed.data?.result ?? [];
  };
  return {
    process: proc,
    port,
    url,
    query,
    async waitFor(what, promql, accept, timeoutMs = 60_000) {
      let last: PromSample[] = [];
      try {
        return await eventually(
          what,
          async () => {
            last = await query(promql);
            return accept(last) ? last : undefined;
          },
          timeoutMs,
          500,
        );
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n  query: ${promql}\n  last result: ${JSON.stringify(last)}`,
          { cause: error },
        );
      }
    },
    async alerts() {
      const { body } = await httpGet(`${url}/api/v1/alerts`);
      return (
        JSON.parse(body) as {
          data: { alerts: { labels: Record<string, string>; state: string }[] };
        }
      ).data.alerts;
    },
  };
}

/**
 * The chart's alert rule groups, with `for` shortened to 0s so alerts fire within a test.
 * `ruleValues` overrides other metrics.prometheusRule values (through a values file: helm
 * --set would turn 0.5 into a string).
 */
export async function chartRuleGroups(
  work: string,
  ruleValues: Record<string, unknown> = {},
): Promise<unknown> {
  const valuesFile = join(work, 'rule-values.yaml');
  writeFileSync(
    valuesFile,
    stringify({ metrics: { prometheusRule: { enabled: true, for: '0s', ...ruleValues } } }),
  );
  const rules = only(
    await render({ valuesFiles: [valuesFile], apiVersions: ['monitoring.coreos.com/v1'] }),
    'PrometheusRule',
  );
  return (rules.spec as { groups: unknown }).groups;
}
