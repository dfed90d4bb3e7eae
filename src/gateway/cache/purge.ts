// POST /cache/purge on the admin port: drops one route's cached responses, all of them or
// one target's (?route=NAME[&path=/p[?q]]). Only for a caller with the token of the Secret
// spec.gateway.cachePurge names (Authorization: Bearer <token>), compared in constant time
// as API keys are (api-keys.ts): the Secret's ring holds digests, never the token itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteTable } from '../../api/index.js';
import { sendJson, type AdminHandler } from '../../common/admin-server.js';
import { consumerOf } from '../api-keys.js';
import type { SecretStore } from '../secret-store.js';
import { normalizePath } from '../request-head.js';
import type { CacheRegistry } from './registry.js';

export interface PurgeHost {
  readonly table: RouteTable | undefined;
  readonly secrets: SecretStore;
  readonly caches: CacheRegistry;
}

/** Why a purge request is refused, or undefined when its token is the configured one. */
export function purgeRefusal(
  host: Pick<PurgeHost, 'table' | 'secrets'>,
  authorization: string | undefined,
): { status: number; error: string } | undefined {
  const purge = host.table?.cachePurge;
  if (purge === undefined) {
    return {
      status: 403,
      error: 'cache purge is off: set spec.gateway.cachePurge.tokenSecretRef to allow it',
    };
  }
  const keys = host.secrets.apiKeys(purge.secretName).keys;
  if (keys === undefined) {
    return { status: 503, error: `the purge token Secret ${purge.secretName} is not loaded yet` };
  }
  const match = /^Bearer +(\S+)$/i.exec(authorization ?? '');
  if (match === null || consumerOf(keys, match[1] as string) !== purge.key) {
    return { status: 401, error: 'send the purge token as Authorization: Bearer <token>' };
  }
  return undefined;
}

export function cachePurgeHandler(host: PurgeHost): AdminHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    // No body is read; whatever the client sends is drained.
    req.resume();
    const refused = purgeRefusal(host, req.headers.authorization);
    if (refused !== undefined) {
      sendJson(res, refused.status, { error: refused.error });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = url.searchParams.get('route') ?? '';
    const raw = url.searchParams.get('path');
    let target: string | undefined;
    if (raw !== null) {
      const query = raw.indexOf('?');
      const normal = normalizePath(query === -1 ? raw : raw.slice(0, query));
      if (!normal.ok) {
        sendJson(res, 400, { error: `path ${JSON.stringify(raw)}: ${normal.reason}` });
        return;
      }
      // Keyed as requests are: the normalised path, the query as sent.
      target = query === -1 ? normal.path : `${normal.path}${raw.slice(query)}`;
    }
    const purged = host.caches.purge(route, target);
    if (purged === undefined) {
      sendJson(res, 404, { error: `route ${JSON.stringify(route)} has no cache` });
      return;
    }
    sendJson(res, 200, { route, ...(target !== undefined && { path: target }), purged });
  };
}
