// A minimal Prometheus HTTP API client: instant queries, with a timeout, and every failure
// (unreachable, HTTP error, a query error, an unexpected shape) as an Error that says which.
import { z } from 'zod';

const VectorSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('vector'),
    result: z.array(
      z.object({
        metric: z.record(z.string(), z.string()),
        value: z.tuple([z.number(), z.string()]),
      }),
    ),
  }),
});

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  /** NaN when Prometheus says NaN; the caller decides what that means. */
  readonly value: number;
}

export interface PrometheusClient {
  /** An instant vector query. */
  query(promql: string): Promise<Sample[]>;
}

export class HttpPrometheusClient implements PrometheusClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async query(promql: string): Promise<Sample[]> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(promql)}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new Error(`Prometheus at ${this.baseUrl} is unreachable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`Prometheus answered ${response.status} without JSON: ${text.slice(0, 200)}`);
    }
    const parsed = VectorSchema.safeParse(body);
    if (!parsed.success) {
      const error = (body as { error?: unknown }).error;
      throw new Error(
        `Prometheus query failed (HTTP ${response.status}): ${typeof error === 'string' ? error : text.slice(0, 200)}`,
      );
    }
    return parsed.data.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  }
}
