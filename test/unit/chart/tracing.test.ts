// The chart's gateway.tracing values become the operator's --gateway-tracing-* flags, which
// the operator parses into the defaults it compiles into every route table.
import { describe, expect, test } from '@jest/globals';
import { settingsFromValues } from '../../../src/operator/flags.js';
import { only, render, templateArgs, type RenderOptions } from '../../tools/chart.js';
import { runHelm } from '../../tools/helm.js';

async function tracingFlags(options: RenderOptions): Promise<Record<string, string>> {
  const deployment = only(await render(options), 'Deployment', '-operator') as unknown as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  return Object.fromEntries(
    args
      .filter((a) => a.startsWith('--gateway-tracing-'))
      .map((a) => [a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
}

describe('chart gateway.tracing', () => {
  test('off by default: no endpoint flag, so the operator turns tracing on for no gateway', async () => {
    const flags = await tracingFlags({});
    expect(flags).toEqual({ 'gateway-tracing-sampling-ratio': '0.01' });
    expect(settingsFromValues(flags).defaultTracing).toEqual({ samplingRatio: 0.01 });
  });

  // (`--set` passes 0.5 as a string; the golden file's values file has a fractional ratio.)
  test('an endpoint and a ratio reach the operator as its defaults', async () => {
    const flags = await tracingFlags({
      set: [
        'gateway.tracing.endpoint=http://otel-collector.observability:4318',
        'gateway.tracing.samplingRatio=1',
      ],
    });
    expect(settingsFromValues(flags).defaultTracing).toEqual({
      endpoint: 'http://otel-collector.observability:4318',
      samplingRatio: 1,
    });
  });

  test.each([
    ['gateway.tracing.endpoint=otel-collector:4318', /endpoint/],
    ['gateway.tracing.samplingRatio=2', /samplingRatio/],
    ['gateway.tracing.sampleRatio=0.5', /sampleRatio/],
  ])('%s is refused by the values schema', async (set, message) => {
    const result = await runHelm(templateArgs({ set: [set] }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});
