// Least privilege: the chart grants exactly the API calls the operator makes, no more, no
// less. test/integration/chart/ proves on a real API server that these rules are enough.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildRole, compileConfig } from '../../../src/operator/desired-state/index.js';
import { validApiRoute } from '../../tools/api-route.js';
import {
  LEADER_ELECTION_CALLS,
  RECONCILE_CALLS,
  type ApiCall,
} from '../../fixtures/chart/operator-api-calls.js';
import { CHART_FIXTURES, only, render, REPO_ROOT, type K8sObject } from '../../tools/chart.js';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Rules as a sorted list of "group/resource:verb" permissions. */
function permissions(rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs) out.add(`${group}/${resource}:${verb}`);
  }
  return [...out].sort();
}

function callPermissions(calls: readonly ApiCall[]): string[] {
  return permissions(
    calls.map((c) => ({ apiGroups: [c.group], resources: [c.resource], verbs: [...c.verbs] })),
  );
}

function rulesOf(object: K8sObject): PolicyRule[] {
  return (object as unknown as { rules: PolicyRule[] }).rules;
}

const byName = (suffix: string) => (o: K8sObject) => o.metadata.name.endsWith(suffix);

describe('cluster-wide mode (default)', () => {
  test('the ClusterRole grants exactly the calls the operator makes', async () => {
    const objects = await render();
    const roles = objects.filter(
      (o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-operator'),
    );
    expect(roles).toHaveLength(1);
    expect(permissions(rulesOf(roles[0] as K8sObject))).toEqual(callPermissions(RECONCILE_CALLS));
  });

  test('the ClusterRoleBinding binds it to the chart ServiceAccount only', async () => {
    const objects = await render();
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding') as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: unknown[];
    };
    const sa = objects.find((o) => o.kind === 'ServiceAccount') as K8sObject;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: only(objects, 'ClusterRole', '-operator').metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
  });

  test('no leader-election Role at one replica', async () => {
    expect((await render()).filter(byName('-leader-election'))).toEqual([]);
  });
});

describe('namespaced mode and leader election', () => {
  const options = {
    valuesFiles: [join(CHART_FIXTURES, 'values-namespaced-ha.yaml')],
    apiVersions: ['monitoring.coreos.com/v1'],
  };

  test('each watched namespace has a Role with exactly the reconcile calls', async () => {
    const roles = (await render(options)).filter(
      (o) => o.kind === 'Role' && byName('-operator')(o),
    );
    expect(roles).toHaveLength(2);
    for (const role of roles) {
      expect(permissions(rulesOf(role))).toEqual(callPermissions(RECONCILE_CALLS));
    }
  });

  test('the leader-election Role grants only the Lease calls, in the release namespace', async () => {
    const objects = await render(options);
    const role = objects.find((o) => o.kind === 'Role' && byName('-leader-election')(o));
    expect(role?.metadata.namespace).toBe('figway-system');
    expect(permissions(rulesOf(role as K8sObject))).toEqual(callPermissions(LEADER_ELECTION_CALLS));
    const binding = objects.find((o) => o.kind === 'RoleBinding' && byName('-leader-election')(o));
    expect(binding?.metadata.namespace).toBe('figway-system');
  });

  test('leader election can be forced on at one replica', async () => {
    const objects = await render({ set: ['operator.leaderElection.enabled=true'] });
    expect(
      objects
        .filter(byName('-leader-election'))
        .map((o) => o.kind)
        .sort(),
    ).toEqual(['Role', 'RoleBinding']);
  });

  test('rbac.create=false renders no RBAC at all', async () => {
    const objects = await render({ set: ['rbac.create=false', 'operator.replicas=2'] });
    expect(objects.filter((o) => /Role/.test(o.kind))).toEqual([]);
  });
});

describe('shape of the rules', () => {
  test('no wildcards, resource names or non-resource URLs anywhere', async () => {
    const objects = [
      ...(await render()),
      ...(await render({ set: ['operator.replicas=2', 'operator.watchNamespaces={a,b}'] })),
    ];
    const rules = objects.filter((o) => o.kind.endsWith('Role')).flatMap(rulesOf);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.apiGroups).not.toContain('*');
      expect(rule.resourceNames).toBeUndefined();
      expect(rule.nonResourceURLs).toBeUndefined();
    }
  });

  test.each(['orders-first-path.yaml', 'orders-api-keys.yaml'])(
    'the operator holds every permission it grants to the gateway of %s (RBAC escalation check)',
    async (file) => {
      // The API server refuses to let the operator create a Role granting more than it holds.
      const example = parse(readFileSync(join(REPO_ROOT, 'examples', file), 'utf8'));
      const apiRoute = validApiRoute(example);
      const gatewayRole = buildRole(apiRoute, compileConfig(apiRoute));
      const granted = permissions(gatewayRole.rules as PolicyRule[]);
      expect(granted.length).toBeGreaterThan(0);
      const clusterRole = only(await render(), 'ClusterRole', '-operator');
      const held = new Set(permissions(rulesOf(clusterRole)));
      expect(granted.filter((p) => !held.has(p))).toEqual([]);
    },
  );
});

describe('aggregated ClusterRoles for the people who use ApiRoutes', () => {
  const AGGREGATE = 'rbac.authorization.k8s.io/aggregate-to-';

  test('view reads ApiRoutes into view, edit and admin; edit manages them into edit and admin', async () => {
    const objects = await render();
    const view = only(objects, 'ClusterRole', '-view');
    const edit = only(objects, 'ClusterRole', '-edit');
    const aggregatedInto = (role: K8sObject) =>
      Object.entries(role.metadata.labels ?? {})
        .filter(([key, value]) => key.startsWith(AGGREGATE) && value === 'true')
        .map(([key]) => key.slice(AGGREGATE.length))
        .sort();
    expect(aggregatedInto(view)).toEqual(['admin', 'edit', 'view']);
    expect(aggregatedInto(edit)).toEqual(['admin', 'edit']);
    expect(permissions(rulesOf(view))).toEqual(
      ['get', 'list', 'watch']
        .flatMap((verb) => [`figway.dev/apiroutes:${verb}`, `figway.dev/apiroutes/status:${verb}`])
        .sort(),
    );
    // Users write the spec; the status is the operator's.
    expect(permissions(rulesOf(edit))).toEqual(
      ['create', 'delete', 'deletecollection', 'patch', 'update']
        .map((verb) => `figway.dev/apiroutes:${verb}`)
        .sort(),
    );
  });

  test('rbac.aggregateClusterRoles=false leaves them out', async () => {
    const objects = await render({ set: ['rbac.aggregateClusterRoles=false'] });
    expect(objects.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata.name)).toEqual([
      'figway-operator',
    ]);
  });
});
