// Multi-document YAML as `kustomize build` prints it, read as kubectl reads it.
import { describe, expect, it } from '@jest/globals';
import { readYamlDocuments } from '../../../src/api/index.js';

const apiRoute = (extra: string) => `apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata: { name: orders, namespace: shop }
spec:
  monolith: { service: legacy-shop, port: 8080 }
  routes:
    - name: orders-api
      match: { path: { type: PathPrefix, value: /api/orders } }
      backends:
        - { service: orders, port: 80, weight: 10 }
        - { monolith: true, weight: 90 }
${extra}`;

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: orders }
spec: { replicas: 1 }`;

describe('readYamlDocuments', () => {
  it('skips documents of other kinds and other API groups, validating only ApiRoutes', () => {
    const other = 'apiVersion: other.example/v1\nkind: ApiRoute\nmetadata: { name: x }\n';
    const { apiRoutes, skipped } = readYamlDocuments(
      `${deployment}\n---\n${apiRoute('')}\n---\n${other}---\n`,
    );
    expect(skipped).toBe(2);
    expect(apiRoutes).toHaveLength(1);
    expect(apiRoutes[0]).toMatchObject({ document: 2, name: 'orders', errors: [] });
  });

  it('still judges an ApiRoute of our group with a wrong version, and a document without kind', () => {
    const wrongVersion = apiRoute('').replace('figway.dev/v1alpha1', 'figway.dev/v1');
    const { apiRoutes, skipped } = readYamlDocuments(`${wrongVersion}\n---\nspec: {}\n`);
    expect(skipped).toBe(0);
    expect(apiRoutes.map((r) => r.errors[0]?.path)).toEqual(['apiVersion', 'apiVersion']);
  });

  it('reads YAML 1.1 booleans as kubectl does: `monolith: yes` is true', () => {
    const text = apiRoute('').replace(
      '{ monolith: true, weight: 90 }',
      '{ monolith: yes, weight: 90 }',
    );
    const [result] = readYamlDocuments(text).apiRoutes;
    expect(result?.errors).toEqual([]);
    expect(result?.value?.spec.routes[0]?.backends[1]).toMatchObject({ monolith: true });
  });
});
