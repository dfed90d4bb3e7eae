// spec.routes[].shadow: copies of a share of the route's requests go to the other side
// too (the new service, or with reverse the monolith), and the answers are compared
// (shadow/comparison.ts). The stage decides which requests, cheaply and in order:
// served by the side being copied, sampled, a method shadowed, a body small enough, a
// free in-flight slot. It never answers, never fails a request and never waits: the
// client's exchange goes on exactly as without it, and only the engine's body tap sees it.
import type { CompiledBackend } from '../../api/index.js';
import { tapOf } from '../engine.js';
import type { StageBuilder, StageContext } from '../pipeline.js';
import { compileIgnore } from '../shadow/ignore.js';
import { ShadowComparison, type RouteShadow } from '../shadow/comparison.js';
import { hasBody } from '../transforms.js';

function comparisonOf(ctx: StageContext): ShadowComparison | undefined {
  return tapOf(ctx.tap, ShadowComparison);
}

export const shadowStage: StageBuilder = (route, services) => {
  const config = route?.shadow;
  if (route === undefined || config === undefined) return undefined;
  const candidate = route.backends.find((b) => !b.monolith && b.name === config.backend);
  if (candidate === undefined) {
    throw new Error(
      `route ${route.name}: shadow.backend ${JSON.stringify(config.backend)} is not a non-monolith backend of the route`,
    );
  }
  const monolith: CompiledBackend =
    route.backends.find((b) => b.monolith) ?? services.table.monolith;
  const registry = services.shadows;
  const metrics = registry.metrics;
  const compared = config.compare.headers;
  const shadow: RouteShadow = {
    route: route.name,
    reverse: config.reverse,
    noiseCancellation: config.compare.noiseCancellation,
    maxBodyBytes: config.maxBodyBytes,
    timeoutMs: config.timeoutMs,
    candidate: services.ownBackend(candidate, route.name),
    monolith: services.ownBackend(monolith, route.name),
    compare: {
      headers: compared,
      ignore: compileIgnore(config.compare.ignore),
      maxBodyBytes: config.maxBodyBytes,
    },
    keptHeaders: [...new Set([...compared, 'content-type', 'content-encoding'])],
    responseHeaders: route.responseHeaders,
    keepValues: config.compare.keepSamples > 0,
    stats: registry.statsFor(route.name, config),
    candidateDuration: metrics.shadowDuration.labels({
      route: route.name,
      backend: candidate.name,
    }),
    monolithDuration: metrics.shadowDuration.labels({ route: route.name, backend: monolith.name }),
  };
  const methods: ReadonlySet<string> = new Set(config.methods);
  const percent = config.percent;
  const { reverse, stats, maxBodyBytes } = shadow;
  const candidateName = candidate.name;

  return {
    name: 'shadow',
    onRequest(ctx) {
      // Websocket tunnels have no bodies to tap, and are never copied.
      if (ctx.tapBodies === undefined) return undefined;
      const served = ctx.backend;
      if (reverse ? served.monolith || served.name !== candidateName : !served.monolith)
        return undefined;
      if (!(Math.random() * 100 < percent)) return undefined;
      const req = ctx.req;
      if (!methods.has(ctx.plan.method)) {
        stats.count('skipped');
        return undefined;
      }
      const withBody = hasBody(req.headers);
      if (withBody && Number(req.headers['content-length']) > maxBodyBytes) {
        stats.count('skipped');
        return undefined;
      }
      const comparison = new ShadowComparison(
        registry,
        shadow,
        ctx.plan,
        { ...ctx.upstreamHeaders },
        withBody,
        ctx.trace,
      );
      if (!registry.tryAcquire(comparison)) {
        stats.count('skipped');
        return undefined;
      }
      ctx.tapBodies(comparison);
      comparison.start();
      return undefined;
    },
    onResponseHead(ctx, status, headers) {
      comparisonOf(ctx)?.responseHead(status, headers);
    },
    onDone(ctx, outcome) {
      comparisonOf(ctx)?.exchangeDone(outcome);
    },
  };
};
