// The README's quick start shows which side some users land on in `figway dev`: those
// claims are computed here from the demo's ApiRoute and the gateway's own cohort hash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { compileRouteTable, validateYamlDocuments } from '../../src/api/index.js';
import { cohortPoint, pickBackend, planSplit } from '../../src/gateway/split.js';

const root = join(import.meta.dirname, '..', '..');

describe('README quick start', () => {
  it('names the side each user really lands on', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const claims = [
      ...readme.matchAll(
        /curl -s -D- http:\/\/127\.0\.0\.1:8080\/api\/orders -H 'x-user-id: ([a-z]+)'.*\nx-figway-backend: ([a-z]+)/g,
      ),
    ].map((m) => ({ user: m[1] as string, side: m[2] as string }));
    expect(claims.map((c) => c.side).sort()).toEqual(['monolith', 'orders']);

    const [demo] = validateYamlDocuments(
      readFileSync(join(root, 'examples', 'dev', 'apiroute.yaml'), 'utf8'),
    );
    if (demo?.value === undefined) throw new Error('examples/dev/apiroute.yaml is invalid');
    const route = compileRouteTable(demo.value).routes.find((r) => r.name === 'orders-api');
    if (route === undefined) throw new Error('the demo has no orders-api route');
    const split = planSplit(route.backends);
    for (const { user, side } of claims) {
      const backend = route.backends[pickBackend(split, cohortPoint(user))];
      expect({ user, side: backend?.monolith === true ? 'monolith' : backend?.name }).toEqual({
        user,
        side,
      });
    }
  });
});
