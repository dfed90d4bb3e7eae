// spec.gateway.tracing: where a gateway sends its OpenTelemetry spans and how many requests
// it samples. Both fields fall back to the operator's chart-wide defaults (--gateway-tracing-*),
// and the compiled result in the route table is the gateway's only tracing config.
import { z } from 'zod';
import { httpUrl } from './fields.js';

/** The OTLP/HTTP path of traces, appended to an endpoint as OTEL_EXPORTER_OTLP_ENDPOINT does. */
export const OTLP_TRACES_PATH = '/v1/traces';

/** Share of new traces sampled when neither the ApiRoute nor the chart says. */
export const DEFAULT_SAMPLING_RATIO = 0.01;

const TRACES_PATH_MESSAGE = `must be the receiver's base URL without ${OTLP_TRACES_PATH} (the gateway appends it), e.g. http://otel-collector.observability:4318`;
const QUERY_MESSAGE = 'must have no query or fragment: give the base URL of the OTLP/HTTP receiver';

const ratioError = (i: { input: unknown }) => `must be between 0 and 1, got ${String(i.input)}`;

export const TracingSchema = z
  .strictObject({
    endpoint: httpUrl(
      `Base URL of an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger, Tempo…), e.g. http://otel-collector.observability:4318; spans are POSTed to <endpoint>${OTLP_TRACES_PATH}. Default: the chart-wide gateway.tracing.endpoint; with neither, tracing is off.`,
    )
      .refine((value) => !new URL(value).pathname.replace(/\/+$/, '').endsWith(OTLP_TRACES_PATH), {
        error: TRACES_PATH_MESSAGE,
      })
      .refine((value) => !value.includes('?') && !value.includes('#'), { error: QUERY_MESSAGE })
      .optional(),
    samplingRatio: z
      .number({ error: ratioError })
      .min(0, { error: ratioError })
      .max(1, { error: ratioError })
      .optional()
      .meta({
        description: `Share of new traces sampled, 0 to 1 (e.g. 0.01 for one in a hundred). A request whose traceparent says its caller sampled it is always traced, one whose caller did not never is (parent-based). Default: the chart-wide gateway.tracing.samplingRatio, else ${DEFAULT_SAMPLING_RATIO}.`,
      }),
  })
  .meta({
    description:
      'OpenTelemetry tracing of this gateway: a server span per request and a client span per upstream attempt (retries, fallback and shadow copies each their own), W3C traceparent/tracestate propagated to the upstream, the trace id in the access log. Off when neither this nor the chart-wide default names an endpoint.',
    'x-kubernetes-validations': [
      {
        rule: `!has(self.endpoint) || !self.endpoint.matches(r'${OTLP_TRACES_PATH}/*$')`,
        fieldPath: '.endpoint',
        message: TRACES_PATH_MESSAGE,
      },
      {
        rule: "!has(self.endpoint) || !(self.endpoint.contains('?') || self.endpoint.contains('#'))",
        fieldPath: '.endpoint',
        message: QUERY_MESSAGE,
      },
    ],
  });

export type Tracing = z.output<typeof TracingSchema>;

/** The effective tracing settings in the route table: present means on. */
export const CompiledTracingSchema = z.object({
  /** Base URL of the OTLP/HTTP receiver, without a trailing slash. */
  endpoint: z.string(),
  samplingRatio: z.number(),
});

export type CompiledTracing = z.output<typeof CompiledTracingSchema>;

/** The chart-wide defaults the operator applies (--gateway-tracing-*). */
export type TracingDefaults = Partial<CompiledTracing>;

/** Field by field, the ApiRoute's own setting wins over the chart's. Pure. */
export function compileTracing(
  own: Tracing | undefined,
  defaults: TracingDefaults | undefined,
): CompiledTracing | undefined {
  const endpoint = own?.endpoint ?? defaults?.endpoint;
  if (endpoint === undefined) return undefined;
  return {
    endpoint: endpoint.replace(/\/+$/, ''),
    samplingRatio: own?.samplingRatio ?? defaults?.samplingRatio ?? DEFAULT_SAMPLING_RATIO,
  };
}
