// Validation is the boundary: whatever arrives, only a typed ApiRoute or a list of field
// errors may come out — never an exception, never an error without a path.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileRouteTable, routeTableHash, validateApiRoute } from '../../../src/api/index.js';

const anyScalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -200, max: 70000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);

/** Often-valid values, so the generator reaches deep into the schema. */
const backend = fc.record(
  {
    service: fc.oneof(fc.constantFrom('orders', 'legacy', 'Bad_Name', ''), anyScalar),
    port: fc.oneof(fc.integer({ min: 0, max: 70000 }), anyScalar),
    url: fc.oneof(
      fc.constantFrom('http://127.0.0.1:3001', 'https://x.example/', 'nope'),
      anyScalar,
    ),
    monolith: fc.oneof(fc.boolean(), anyScalar),
    weight: fc.oneof(fc.integer({ min: -10, max: 110 }), fc.constantFrom(0, 50, 100), anyScalar),
  },
  { requiredKeys: [] },
);

const route = fc.record(
  {
    name: fc.oneof(fc.constantFrom('a', 'orders-api', 'dup', 'UPPER'), anyScalar),
    match: fc.oneof(
      fc.record(
        {
          path: fc.record(
            {
              type: fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression', 'Other'),
              value: fc.oneof(
                fc.constantFrom('/api', '/a/(b', '[', '^/x$', 'rel'),
                fc.string({ maxLength: 8 }),
              ),
            },
            { requiredKeys: [] },
          ),
          methods: fc.oneof(fc.array(fc.constantFrom('GET', 'POST', 'FETCH')), anyScalar),
          headers: fc.array(
            fc.record({
              name: fc.constantFrom('x-a', 'bad name'),
              value: fc.string({ maxLength: 4 }),
              type: fc.constantFrom('Exact', 'RegularExpression'),
            }),
          ),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    backends: fc.oneof(fc.array(backend, { maxLength: 4 }), anyScalar),
    cohort: fc.oneof(
      fc.record(
        {
          header: fc.constantFrom('x-user-id', 'bad header'),
          cookie: fc.constant('s'),
          clientIp: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    timeout: fc.oneof(fc.constantFrom('5s', '250ms', '1m', '5 s', ''), anyScalar),
    retries: fc.oneof(
      fc.record(
        {
          attempts: fc.integer({ min: -1, max: 7 }),
          conditions: fc.array(fc.constantFrom('connect-failure', 502, 503, 500, 'x')),
          perTryTimeout: fc.constantFrom('1s', 'x'),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    rewrite: fc.oneof(
      fc.record(
        { pathPrefix: fc.constantFrom('/o', 'o'), fullPath: fc.constant('/f') },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    requestHeaders: fc.oneof(
      fc.record(
        {
          set: fc.dictionary(fc.constantFrom('x-a', 'b c'), fc.string()),
          remove: fc.array(fc.string()),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    fallbackToMonolith: fc.oneof(fc.boolean(), anyScalar),
    shadow: fc.oneof(
      fc.record(
        {
          backend: fc.constantFrom('orders', 'monolith', 'x.example', ''),
          percent: fc.oneof(fc.double({ min: -5, max: 105 }), anyScalar),
          methods: fc.array(fc.constantFrom('GET', 'POST', 'FETCH')),
          allowSideEffects: fc.oneof(fc.boolean(), anyScalar),
          maxBodyBytes: fc.oneof(fc.constantFrom('1Mi', '64Mi', '0', 'big'), fc.integer()),
          timeout: fc.constantFrom('2s', 'x'),
          compare: fc.oneof(
            fc.record(
              {
                headers: fc.array(fc.constantFrom('content-type', 'bad header')),
                ignore: fc.array(fc.oneof(fc.constantFrom('$.a', '$[0]', 'a'), fc.string())),
                noiseCancellation: fc.oneof(fc.boolean(), anyScalar),
                keepSamples: fc.integer({ min: -1, max: 200 }),
              },
              { requiredKeys: [] },
            ),
            anyScalar,
          ),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    extra: anyScalar,
  },
  { requiredKeys: [] },
);

const apiRouteShaped = fc.record(
  {
    apiVersion: fc.constantFrom('figway.dev/v1alpha1', 'v1'),
    kind: fc.constantFrom('ApiRoute', 'Route'),
    metadata: fc.oneof(
      fc.record(
        { name: fc.constantFrom('orders', ''), namespace: fc.constantFrom('shop') },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    spec: fc.oneof(
      fc.record(
        {
          monolith: fc.oneof(
            fc.record(
              {
                service: fc.constantFrom('legacy', 'X'),
                port: fc.integer({ min: 0, max: 70000 }),
                url: fc.constantFrom('https://legacy.example', 'x'),
              },
              { requiredKeys: [] },
            ),
            anyScalar,
          ),
          gateway: fc.oneof(
            fc.record(
              {
                replicas: fc.integer({ min: -1, max: 60 }),
                logLevel: fc.constantFrom('info', 'loud'),
                resources: fc.record({
                  requests: fc.record({
                    cpu: fc.oneof(fc.constantFrom('100m', 'lots'), fc.integer()),
                  }),
                }),
              },
              { requiredKeys: [] },
            ),
            anyScalar,
          ),
          routes: fc.oneof(fc.array(route, { maxLength: 4 }), anyScalar),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
  },
  { requiredKeys: [] },
);

/** Valid by construction (weights w and 100 - w), so accepted inputs are exercised too. */
const validApiRoute = fc
  .record({
    weights: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 4 }),
    pathType: fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression'),
    cohort: fc.constantFrom(
      { header: 'x-user-id' },
      { cookie: 'session' },
      { clientIp: true },
      undefined,
    ),
    monolith: fc.constantFrom(
      { service: 'legacy', port: 8080 },
      { url: 'https://legacy.example.com/' },
    ),
    timeout: fc.constantFrom('250ms', '5s', '2m'),
  })
  .map(({ weights, pathType, cohort, monolith, timeout }) => ({
    apiVersion: 'figway.dev/v1alpha1',
    kind: 'ApiRoute',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      monolith,
      routes: weights.map((w, i) => ({
        name: `route-${i}`,
        match: {
          path: {
            type: pathType,
            value: pathType === 'RegularExpression' ? `/r${i}/[0-9]+` : `/p${i}`,
          },
        },
        backends: [
          { service: `svc-${i}`, port: 80, weight: w },
          { monolith: true, weight: 100 - w },
        ],
        ...(cohort && { cohort }),
        timeout,
        retries: { attempts: i % 3, conditions: ['connect-failure', 503] },
      })),
    },
  }));

describe('validateApiRoute on random input', () => {
  it('returns a typed value or field errors for 10,000 ApiRoute-shaped inputs, never throws', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(apiRouteShaped, validApiRoute, fc.anything()), (input) => {
        const result = validateApiRoute(input);
        if (result.ok) {
          accepted += 1;
          // What validation accepts, the route table compiler must handle.
          routeTableHash(compileRouteTable(result.value));
          expect(validateApiRoute(result.value).ok).toBe(true);
        } else {
          expect(result.errors.length).toBeGreaterThan(0);
          for (const error of result.errors) {
            expect(error.path.length).toBeGreaterThan(0);
            expect(error.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 10_000 },
    );
    // The generator must reach valid ApiRoutes too, or the compile check above means nothing.
    expect(accepted).toBeGreaterThan(0);
  });
});
