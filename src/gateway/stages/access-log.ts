// Access logs (spec.gateway.accessLog): one JSON line per sampled request, and every
// failed one when alwaysLogErrors is on. Query values are redacted unless the ApiRoute
// keeps them, because tokens and e-mail addresses travel in query strings.
import type { Outcome, StageBuilder } from '../pipeline.js';

/**
 * `a=1&token=xyz` → `a=<redacted>&token=<redacted>`: the names stay, for debugging, and so
 * does every `&`, so a line shows the shape of what was sent. One pass over the query.
 */
export function redactQuery(query: string): string {
  let out = '';
  let start = 0;
  // The next '=' at or after start; query.length when there is none.
  let eq = -1;
  for (;;) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (eq < start) {
      eq = query.indexOf('=', start);
      if (eq === -1) eq = query.length;
    }
    out += eq < end ? `${query.slice(start, eq)}=<redacted>` : query.slice(start, end);
    if (end === query.length) return out;
    out += '&';
    start = end + 1;
  }
}

/** Whether an outcome counts as an error for alwaysLogErrors. */
export function isErrorOutcome(outcome: Pick<Outcome, 'status' | 'local' | 'failure'>): boolean {
  // 0: the client left first; a failed attempt (even one that fell back or was cut off
  // mid-body) and a gateway refusal (400 on a bad path, later 401) are worth a line too,
  // since that is what an outage or an attack looks like.
  const { status, local, failure } = outcome;
  return status === 0 || status >= 500 || failure !== undefined || (local && status >= 400);
}

export const accessLogStage: StageBuilder = (_route, services) => {
  const config = services.table.accessLog;
  if (config === undefined) return undefined;
  const { sampleRatio, alwaysLogErrors, redactQuery: redact } = config;
  if (sampleRatio <= 0 && !alwaysLogErrors) return undefined;
  const log = services.accessLogger;
  return {
    name: 'access-log',
    onDone(ctx, outcome) {
      const sampled = sampleRatio >= 1 || (sampleRatio > 0 && Math.random() < sampleRatio);
      if (!sampled && !(alwaysLogErrors && isErrorOutcome(outcome))) return;
      const plan = ctx.plan;
      log.info('request', {
        requestId: plan.requestId,
        ...(ctx.trace !== undefined && { traceId: ctx.trace.traceId }),
        client: plan.clientAddress,
        host: plan.host,
        method: plan.method,
        path: plan.path,
        ...(plan.query !== '' && { query: redact ? redactQuery(plan.query) : plan.query }),
        route: plan.route.name,
        ...(ctx.consumer !== undefined && { consumer: ctx.consumer }),
        backend: outcome.backendName,
        status: outcome.status,
        bytesIn: outcome.bytesIn,
        bytesOut: outcome.bytesOut,
        ...(outcome.upstreamMs !== undefined && { upstreamMs: round(outcome.upstreamMs) }),
        totalMs: round(outcome.totalMs),
        ...(outcome.retries > 0 && { retries: outcome.retries }),
        ...(outcome.fellBack && { fallback: true }),
        ...(outcome.failure !== undefined && { failure: outcome.failure }),
      });
    },
  };
};

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
