// The config hash travels in the route table: the gateway serves the hash its writer
// computed, so /readyz names the same config as the operator's status.configHash even when
// the table holds fields this gateway's schema does not know (a newer operator wrote it).
import { afterEach, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import {
  parseRouteTable,
  ROUTE_TABLE_KEY,
  routeTableHash,
  serializeRouteTable,
  type ApiRoute,
  type RouteTable,
  type RouteTableContent,
} from '../../../src/api/index.js';
import { createLogger } from '../../../src/common/logger.js';
import { routeTableFromYaml } from '../../../src/gateway/config-source.js';
import { Gateway } from '../../../src/gateway/server.js';
import { buildConfigMap, compileConfig } from '../../../src/operator/desired-state/index.js';
import { validApiRoute } from '../../tools/api-route.js';

const YAML = `
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop, generation: 4 }
spec:
  monolith: { service: legacy, port: 8080 }
  routes:
    - name: api
      match: { path: { value: /api/orders } }
      backends: [{ service: orders, port: 80, weight: 30 }, { monolith: true, weight: 70 }]
`;

function apiRoute(): ApiRoute {
  return validApiRoute(parse(YAML));
}

function contentOf(table: RouteTable): RouteTableContent {
  const content: RouteTableContent & { hash?: string } = { ...table };
  delete content.hash;
  return content;
}

/** What a newer operator writes: today's table plus fields this gateway has never heard of. */
function newerOperatorTable(): { json: string; hash: string } {
  const content = contentOf(compileConfig(apiRoute()).table);
  const newer: RouteTableContent & Record<string, unknown> = {
    ...content,
    profiling: { sampleRatio: 0.1 },
    routes: content.routes.map((r) => ({ ...r, circuitBreaker: { maxPending: 100 } })),
  };
  const hash = routeTableHash(newer);
  return { json: serializeRouteTable({ ...newer, hash }), hash };
}

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.shutdown(0)));
});

function servedHash(table: RouteTable): unknown {
  const gateway = new Gateway({
    logger: createLogger({ component: 'gateway', silent: true }),
    defaultMetrics: false,
  });
  gateways.push(gateway);
  gateway.applyTable(table);
  expect(gateway.hash).toBe(gateway.readiness().details?.configHash);
  return gateway.hash;
}

describe('the config hash the gateway serves', () => {
  test('is the hash in the ConfigMap, the one the operator reports as status.configHash', () => {
    const config = compileConfig(apiRoute());
    const configMap = buildConfigMap(apiRoute(), config);
    const written = parseRouteTable(configMap.data?.[ROUTE_TABLE_KEY] ?? '');
    expect(written.hash).toBe(config.hash);
    expect(servedHash(written)).toBe(config.hash);
  });

  test('of a table a newer operator wrote with unknown fields is the hash it wrote', () => {
    const { json, hash } = newerOperatorTable();
    const parsed = parseRouteTable(json);
    // The parsed copy lacks the unknown fields, so recomputing would name another config.
    expect(parsed).not.toHaveProperty('tracing');
    expect(routeTableHash(parsed)).not.toBe(hash);
    expect(servedHash(parsed)).toBe(hash);
  });

  test('of a local ApiRoute file is the hash the operator computes for that ApiRoute', () => {
    const local = routeTableFromYaml(YAML, 'orders.yaml');
    expect(servedHash(local)).toBe(compileConfig(apiRoute()).hash);
  });

  test('is computed over the content: a hash already in the table does not change it', () => {
    const table = compileConfig(apiRoute()).table;
    expect(routeTableHash(table)).toBe(routeTableHash(contentOf(table)));
    expect(routeTableHash(table)).toBe(table.hash);
  });
});
