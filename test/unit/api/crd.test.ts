import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { apiRouteCrd, apiRouteOpenApiSchema } from '../../../src/api/crd.js';
import { generatedFiles } from '../../../src/api/generated-files.js';
import { CEL_NO_LOOKAROUND_OR_BACKREFERENCE } from '../../../src/api/regex.js';

const root = join(import.meta.dirname, '..', '..', '..');

type Node = Record<string, unknown> & {
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
};

/** Visits every schema node with its path; `isField` for named properties (what kubectl explain lists). */
function walk(
  node: Node,
  path: string,
  visit: (node: Node, path: string, isField: boolean) => void,
  isField = true,
): void {
  visit(node, path, isField);
  for (const [name, child] of Object.entries(node.properties ?? {}))
    walk(child, `${path}.${name}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit, false);
  if (typeof node.additionalProperties === 'object')
    walk(node.additionalProperties, `${path}{}`, visit, false);
}

describe('the generated CRD', () => {
  it.each(Object.entries(generatedFiles()))(
    '%s is up to date (run `npm run generate`)',
    (path, content) => {
      expect(readFileSync(join(root, path), 'utf8')).toBe(content);
    },
  );

  it('is a structural schema', () => {
    const problems: string[] = [];
    walk(apiRouteOpenApiSchema(), 'openAPIV3Schema', (node, path) => {
      for (const forbidden of [
        '$ref',
        'anyOf',
        'oneOf',
        'allOf',
        'not',
        'nullable',
        'propertyNames',
        '$schema',
        'definitions',
        '$defs',
      ]) {
        if (forbidden in node) problems.push(`${path}: has ${forbidden}`);
      }
      if (node.properties && 'additionalProperties' in node)
        problems.push(`${path}: additionalProperties beside properties`);
      if (node['x-kubernetes-int-or-string'] !== true && typeof node.type !== 'string')
        problems.push(`${path}: no type`);
    });
    expect(problems).toEqual([]);
  });

  it('describes every field of spec and status, so kubectl explain teaches the API', () => {
    const undocumented: string[] = [];
    const schema = apiRouteOpenApiSchema() as Node;
    for (const part of ['spec', 'status']) {
      walk(schema.properties![part]!, part, (node, path, isField) => {
        const described = typeof node.description === 'string' && node.description.length > 0;
        if (isField && !described) undocumented.push(path);
      });
    }
    expect(undocumented).toEqual([]);
  });

  it('lets the API server enforce what it can: unique route names, weight sums, exclusive fields', () => {
    const crd = apiRouteCrd() as any;
    const version = crd.spec.versions[0];
    const spec = version.schema.openAPIV3Schema.properties.spec;
    const routes = spec.properties.routes;
    expect(routes['x-kubernetes-list-type']).toBe('map');
    expect(routes['x-kubernetes-list-map-keys']).toEqual(['name']);
    const backends = routes.items.properties.backends;
    expect(backends['x-kubernetes-validations']).toContainEqual(
      expect.objectContaining({ rule: 'self.size() == 0 || self.map(b, b.weight).sum() == 100' }),
    );
    expect(backends.maxItems).toBeGreaterThan(0);
    expect(spec.properties.monolith['x-kubernetes-validations'].length).toBeGreaterThan(0);
  });

  it('refuses lookaround and backreferences in every RegularExpression match, naming the value', () => {
    const match = (apiRouteCrd() as any).spec.versions[0].schema.openAPIV3Schema.properties.spec
      .properties.routes.items.properties.match.properties;
    for (const node of [match.path, match.headers.items, match.query.items]) {
      expect(node['x-kubernetes-validations']).toContainEqual({
        rule: `self.type != 'RegularExpression' || self.value.matches(r'${CEL_NO_LOOKAROUND_OR_BACKREFERENCE}')`,
        fieldPath: '.value',
        message: expect.stringMatching(/^must be an RE2 regular expression without lookahead/),
      });
    }
  });

  it('has the status subresource, printer columns, short name and category', () => {
    const crd = apiRouteCrd() as any;
    const version = crd.spec.versions[0];
    expect(crd.metadata.name).toBe('apiroutes.figway.dev');
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual([
      'Routes',
      'Monolith',
      'New-Service-%',
      'Ready',
      'Age',
    ]);
    expect(crd.spec.names.shortNames).toEqual(['ar']);
    expect(crd.spec.names.categories).toEqual(['figway']);
  });
});
