// The Secret of spec.gateway.cachePurge is one the gateway reads: its Role names it, by name.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { validateYamlDocuments } from '../../../src/api/index.js';
import { buildRole, compileConfig } from '../../../src/operator/desired-state/index.js';

describe('the cache purge token', () => {
  it("is read from a Secret the gateway's Role names", () => {
    const [result] = validateYamlDocuments(
      readFileSync(new URL('../../../examples/orders-cached.yaml', import.meta.url), 'utf8'),
    );
    const apiRoute = result?.value;
    if (apiRoute === undefined) throw new Error('examples/orders-cached.yaml is invalid');
    expect(buildRole(apiRoute, compileConfig(apiRoute)).rules).toContainEqual({
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['cache-purge'],
      verbs: ['get', 'list', 'watch'],
    });
  });
});
