// auth.apiKey: a request must carry one of the keys of the route's Secret in the route's
// header. The consumer (the key's name in the Secret) goes upstream in CONSUMER_HEADER,
// replacing whatever the client sent, and onto the StageContext for later stages (rate
// limits by consumer, the access log); the key itself is removed from the upstream request.
import { consumerOf } from '../api-keys.js';
import type { Answer, StageBuilder } from '../pipeline.js';
import { UNMATCHED_ROUTE } from '../metrics.js';

/** The upstream request header that names the authenticated consumer. */
export const CONSUMER_HEADER = 'x-figway-consumer';

/** Answers for the three refusals, built once per config: the hot path allocates nothing. */
function refusals(header: string, secretName: string) {
  const missing: Answer = {
    status: 401,
    reason: 'api-key-missing',
    message: `this route needs an API key in the ${header} header`,
  };
  const unknown: Answer = {
    status: 401,
    reason: 'api-key-unknown',
    message: `the API key in the ${header} header is not valid for this route`,
  };
  // The gateway has not read the Secret yet (or never could): not the client's fault.
  const unavailable: Answer = {
    status: 503,
    reason: 'api-keys-unavailable',
    message: `the gateway has not loaded the API keys of Secret ${secretName} yet`,
    headers: { 'retry-after': '1' },
  };
  return { missing, unknown, unavailable };
}

export const apiKeyStage: StageBuilder = (route, services) => {
  const policy = route !== undefined ? route.apiKey : services.table.defaults?.apiKey;
  if (policy === undefined) return undefined;
  const { header, secretName } = policy;
  const ring = services.secrets.apiKeys(secretName);
  const counts = services.metrics.apiKeySeries(route?.name ?? UNMATCHED_ROUTE);
  const answers = refusals(header, secretName);
  return {
    name: 'api-key',
    onRequest(ctx) {
      const keys = ring.keys;
      if (keys === undefined) {
        counts.unavailable.inc();
        return answers.unavailable;
      }
      const presented = ctx.req.headers[header];
      // Node joins repeated headers with ", " (set-cookie aside), so a request with two
      // keys presents a value no consumer has: it is refused as unknown, never half-checked.
      if (typeof presented !== 'string' || presented === '') {
        counts.missing.inc();
        return answers.missing;
      }
      const consumer = consumerOf(keys, presented);
      if (consumer === undefined) {
        counts.unknown.inc();
        return answers.unknown;
      }
      counts.ok.inc();
      ctx.consumer = consumer;
      const upstream = ctx.upstreamHeaders;
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the header name is config
      delete upstream[header];
      upstream[CONSUMER_HEADER] = consumer;
      return undefined;
    },
  };
};
