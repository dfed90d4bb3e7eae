import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { InvalidConfigError, routeTableFromYaml } from '../../../src/gateway/config-source.js';
import { DEV_APIROUTE_YAML } from '../../../src/gateway/dev-config.js';
import { applyServiceOverrides, parseResolveFlags } from '../../../src/gateway/resolve.js';

const VALID = `
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop }
spec:
  monolith: { service: legacy-shop, port: 8080 }
  routes:
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends:
        - { service: orders, port: 80, weight: 30 }
        - { url: "https://payments.example.com/base", weight: 10 }
        - { monolith: true, weight: 60 }
`;

describe('loading an ApiRoute file', () => {
  it('compiles Service backends to cluster DNS and keeps url backends as they are', () => {
    const table = routeTableFromYaml(VALID, 'f.yaml');
    expect(table.monolith.url).toBe('http://legacy-shop.shop.svc:8080');
    expect(table.routes[0]?.backends.map((b) => b.url)).toEqual([
      'http://orders.shop.svc:80',
      'https://payments.example.com/base',
      'http://legacy-shop.shop.svc:8080',
    ]);
  });

  it('compiles a shadow: sizes in bytes, durations in ms, header names lower-cased, the backend by name', () => {
    const table = routeTableFromYaml(
      `${VALID}      shadow:
        backend: payments.example.com
        percent: 2.5
        maxBodyBytes: 64Ki
        compare: { headers: [Content-Type, ETag], ignore: ["$.at"], noiseCancellation: true }
`,
      'f.yaml',
    );
    expect(table.routes[0]?.shadow).toEqual({
      backend: 'payments.example.com',
      percent: 2.5,
      methods: ['GET', 'HEAD'],
      maxBodyBytes: 65536,
      timeoutMs: 2000,
      reverse: false,
      compare: {
        headers: ['content-type', 'etag'],
        ignore: ['$.at'],
        noiseCancellation: true,
        keepSamples: 0,
      },
    });
  });

  it('names every invalid field in the error', () => {
    const bad = VALID.replace('weight: 30', 'weight: 130').replace(
      'type: PathPrefix',
      'type: Prefix',
    );
    let caught: unknown;
    try {
      routeTableFromYaml(bad, 'f.yaml');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidConfigError);
    const paths = (caught as InvalidConfigError).fieldErrors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'spec.routes[0].backends[0].weight',
        'spec.routes[0].match.path.type',
      ]),
    );
    expect((caught as Error).message).toContain('f.yaml');
  });

  it('refuses a file with more or fewer than one ApiRoute', () => {
    expect(() => routeTableFromYaml(`${VALID}\n---\n${VALID}`, 'two.yaml')).toThrow(
      /exactly one ApiRoute document, found 2/,
    );
    expect(() => routeTableFromYaml('', 'empty.yaml')).toThrow(/found 0/);
  });

  it('reports YAML syntax errors', () => {
    expect(() => routeTableFromYaml('spec: [unclosed', 'bad.yaml')).toThrow(InvalidConfigError);
  });
});

describe('--resolve', () => {
  it('parses service=url pairs and rejects malformed ones naming the flag', () => {
    expect([...parseResolveFlags(['orders=http://127.0.0.1:3001/'])]).toEqual([
      ['orders', 'http://127.0.0.1:3001'],
    ]);
    expect(() => parseResolveFlags(['orders'])).toThrow(/--resolve "orders": expected service=url/);
    expect(() => parseResolveFlags(['orders=nope'])).toThrow(/is not a URL/);
    expect(() => parseResolveFlags(['orders=ftp://x'])).toThrow(/http:\/\/ or https:\/\//);
    expect(() => parseResolveFlags(['a=http://x', 'a=http://y'])).toThrow(/given twice/);
  });

  it('points Service backends, the monolith included, at the local URLs and leaves the rest', () => {
    const table = routeTableFromYaml(VALID, 'f.yaml');
    const local = applyServiceOverrides(
      table,
      new Map([
        ['orders', 'http://127.0.0.1:3001'],
        ['legacy-shop', 'http://127.0.0.1:3002'],
      ]),
    );
    expect(local.monolith.url).toBe('http://127.0.0.1:3002');
    expect(local.routes[0]?.backends.map((b) => b.url)).toEqual([
      'http://127.0.0.1:3001',
      'https://payments.example.com/base',
      'http://127.0.0.1:3002',
    ]);
    expect(table.monolith.url).toBe('http://legacy-shop.shop.svc:8080');
  });
});

describe('the figway dev demo config', () => {
  it('is valid and identical to examples/dev/apiroute.yaml', () => {
    const file = readFileSync(
      new URL('../../../examples/dev/apiroute.yaml', import.meta.url),
      'utf8',
    );
    expect(DEV_APIROUTE_YAML).toBe(file);
    const table = routeTableFromYaml(DEV_APIROUTE_YAML, 'dev');
    expect(table.routes.find((r) => r.name === 'orders-api')?.newServicePercent).toBe(30);
  });
});
