// A real OpenTelemetry Collector for a test (built from its Go modules by
// test/tools/build-otelcol.sh): an OTLP/HTTP receiver on a loopback port the collector picks
// itself, and a file exporter writing every batch it accepted as OTLP JSON, read back here.
// Stopped by pid like every test process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from './chart.js';
import { eventually, GiveUpError, startProcess, type RunningProcess } from './processes.js';
import { IN_CI } from './require-tool.js';

export const OTELCOL_BUILD = 'bash test/tools/build-otelcol.sh (needs Go >= 1.26)';

/**
 * The collector binary, built on first use (a warm cache answers at once); undefined
 * outside CI when Go is missing (exit 3), so tests skip loudly. A failed build throws.
 */
function ensureCollector(): string | undefined {
  const override = process.env.FIGWAY_OTELCOL;
  if (override) return override;
  const built = spawnSync('bash', [join(REPO_ROOT, 'test/tools/build-otelcol.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (built.status === 3 && !IN_CI) return undefined;
  if (built.status !== 0)
    throw new Error(`building the OpenTelemetry Collector failed (exit ${built.status})`);
  return built.stdout.trim().split('\n').at(-1);
}

export const otelcolBin = ensureCollector();

/** An OTLP attribute value as the JSON encoding writes it. */
type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
};

/** One span as the collector received it, with attributes flattened. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 2 server, 3 client (OTLP's SpanKind numbers). */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** 2 means error (OTLP's StatusCode). */
  statusCode: number;
  resource: Record<string, string | number | boolean>;
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_ERROR = 2;

function flatten(
  attributes: { key: string; value: AnyValue }[] | undefined,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes ?? []) {
    const v =
      value.stringValue ??
      value.boolValue ??
      (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

interface ExportLine {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: AnyValue }[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: { key: string; value: AnyValue }[];
        status?: { code?: number };
      }[];
    }[];
  }[];
}

export interface RunningCollector {
  process: RunningProcess;
  /** Base URL of the OTLP/HTTP receiver: what spec.gateway.tracing.endpoint takes. */
  endpoint: string;
  /** Every span exported so far. */
  spans(): CollectedSpan[];
  /** Waits until `accept` likes the spans; the error shows the last ones. */
  waitForSpans(
    what: string,
    accept: (spans: CollectedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<CollectedSpan[]>;
  stop(): Promise<void>;
}

export async function startCollector(): Promise<RunningCollector> {
  if (otelcolBin === undefined) throw new Error(`no OpenTelemetry Collector: ${OTELCOL_BUILD}`);
  const work = mkdtempSync(join(tmpdir(), 'figway-otelcol-'));
  const output = join(work, 'spans.jsonl');
  const config = {
    receivers: { otlp: { protocols: { http: { endpoint: '127.0.0.1:0' } } } },
    exporters: { file: { path: output, flush_interval: '100ms' } },
    service: {
      telemetry: { metrics: { level: 'none' }, logs: { encoding: 'json' } },
      pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
    },
  };
  writeFileSync(join(work, 'config.yaml'), stringify(config));
  const logFile = join(work, 'otelcol.log');
  const proc = startProcess(
    'otelcol',
    otelcolBin,
    ['--config', join(work, 'config.yaml')],
    logFile,
  );
  // The receiver binds port 0 and logs the address it got.
  const endpoint = await eventually(
    'the collector to start its OTLP/HTTP receiver',
    () => {
      if (proc.exitInfo() !== undefined)
        throw new GiveUpError(`the collector exited:\n${proc.log()}`);
      for (const line of proc.log().split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string; endpoint?: string };
        if (entry.msg === 'Starting HTTP server' && entry.endpoint !== undefined)
          return Promise.resolve(`http://${entry.endpoint}`);
      }
      return Promise.resolve(undefined);
    },
    15_000,
    50,
  );
  const spans = (): CollectedSpan[] => {
    let text: string;
    try {
      text = readFileSync(output, 'utf8');
    } catch {
      return [];
    }
    const out: CollectedSpan[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      for (const rs of (JSON.parse(line) as ExportLine).resourceSpans ?? []) {
        const resource = flatten(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            out.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind ?? 0,
              attributes: flatten(s.attributes),
              statusCode: s.status?.code ?? 0,
              resource,
            });
          }
        }
      }
    }
    return out;
  };
  return {
    process: proc,
    endpoint,
    spans,
    async waitForSpans(what, accept, timeoutMs = 10_000) {
      return eventually(
        what,
        () => {
          const now = spans();
          if (!accept(now)) throw new Error(`spans so far:\n${JSON.stringify(now, null, 1)}`);
          return Promise.resolve(now);
        },
        timeoutMs,
        100,
      );
    },
    async stop() {
      await proc.stop(5000);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
