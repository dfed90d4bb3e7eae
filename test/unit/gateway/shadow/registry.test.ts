import { describe, expect, it } from '@jest/globals';
import type { CompiledShadow } from '../../../../src/api/index.js';
import type { ProxyEngine } from '../../../../src/gateway/engine.js';
import { GatewayMetrics } from '../../../../src/gateway/metrics.js';
import { Differences } from '../../../../src/gateway/shadow/differences.js';
import { escapeHtml, renderShadowPage } from '../../../../src/gateway/shadow/page.js';
import { ShadowRegistry } from '../../../../src/gateway/shadow/registry.js';

const engine = {} as ProxyEngine;

function shadow(change: Partial<CompiledShadow['compare']> = {}, percent = 10): CompiledShadow {
  return {
    backend: 'orders',
    percent,
    methods: ['GET'],
    maxBodyBytes: 1024,
    timeoutMs: 2000,
    reverse: false,
    compare: {
      headers: ['content-type'],
      ignore: [],
      noiseCancellation: false,
      keepSamples: 0,
      ...change,
    },
  };
}

function differing(field: string): Differences {
  const d = new Differences(false);
  d.add(field, 1, 2);
  return d;
}

async function series(metrics: GatewayMetrics, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

describe('ShadowRegistry across configs', () => {
  it('keeps a route stats over a reload that compares the same way, even at another percent', () => {
    const registry = new ShadowRegistry(
      engine,
      new GatewayMetrics({ inFlight: () => 0, websockets: () => 0, defaultMetrics: false }),
    );
    registry.beginConfig();
    const first = registry.statsFor('orders-api', shadow());
    registry.commitConfig();
    first.record(differing('$.a'), undefined);
    registry.beginConfig();
    expect(registry.statsFor('orders-api', shadow({}, 50))).toBe(first);
    registry.commitConfig();
    expect(registry.report().routes[0]).toMatchObject({
      route: 'orders-api',
      percent: 50,
      compared: 1,
    });
  });

  it('starts afresh when the comparison changes, and drops what a route without shadow left', async () => {
    const metrics = new GatewayMetrics({
      inFlight: () => 0,
      websockets: () => 0,
      defaultMetrics: false,
    });
    const registry = new ShadowRegistry(engine, metrics);
    registry.beginConfig();
    registry.statsFor('a', shadow()).record(differing('$.x'), undefined);
    registry.statsFor('b', shadow()).record(differing('$.y'), undefined);
    registry.commitConfig();
    expect(await series(metrics, 'figway_gateway_shadow_field_mismatches_total')).toHaveLength(2);

    registry.beginConfig();
    const fresh = registry.statsFor('a', shadow({ ignore: ['$.x'] }));
    registry.commitConfig();
    expect(fresh.report().compared).toBe(0);
    expect(await series(metrics, 'figway_gateway_shadow_field_mismatches_total')).toEqual([]);
    expect(await series(metrics, 'figway_gateway_shadow_requests_total')).toEqual(
      expect.not.arrayContaining([expect.stringContaining('route="b"')]),
    );
    expect(registry.report().routes.map((r) => r.route)).toEqual(['a']);
  });

  it('reports a config that failed to build as if it never came', () => {
    const registry = new ShadowRegistry(
      engine,
      new GatewayMetrics({ inFlight: () => 0, websockets: () => 0, defaultMetrics: false }),
    );
    registry.beginConfig();
    registry.statsFor('a', shadow());
    registry.commitConfig();
    registry.beginConfig();
    registry.statsFor('b', shadow());
    // buildRuntime threw here: no commit. The next config starts from the one in use.
    registry.beginConfig();
    registry.statsFor('a', shadow());
    registry.commitConfig();
    expect(registry.report().routes.map((r) => r.route)).toEqual(['a']);
  });
});

describe('the shadow page', () => {
  it('escapes what responses and configs put in it', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
    const registry = new ShadowRegistry(
      engine,
      new GatewayMetrics({ inFlight: () => 0, websockets: () => 0, defaultMetrics: false }),
    );
    registry.beginConfig();
    registry.statsFor('r', shadow()).record(differing(`$['<script>alert(1)</script>']`), undefined);
    registry.commitConfig();
    const page = renderShadowPage(registry.report());
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
