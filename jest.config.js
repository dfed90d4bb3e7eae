// Jest runs our TypeScript as native ESM (the Kubernetes client is ESM-only), so
// `npm test` starts Node with --experimental-vm-modules. ts-jest transpiles each file
// in isolation (tsconfig isolatedModules) and leaves type checking to `npm run typecheck`.
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
};

/** Tests that need the real control plane (test/cluster), started once for the project. */
const clusterTests = [
  '<rootDir>/test/integration/cluster.test.ts',
  '<rootDir>/test/integration/operator/**/*.test.ts',
  '<rootDir>/test/integration/chart/**/*.test.ts',
  '<rootDir>/test/e2e/**/*.test.ts',
];

/** @type {import('jest').Config} */
export default {
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // Real HTTP servers and processes on 127.0.0.1, no cluster.
    {
      ...common,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/test/integration/gateway/**/*.test.ts',
        '<rootDir>/test/integration/cli/**/*.test.ts',
        '<rootDir>/test/integration/migration/**/*.test.ts',
      ],
    },
    // A real kube-apiserver, etcd, controller-manager, scheduler and kwok, plus helm,
    // promtool and prometheus. Jest runs a project's global setup only when one of its
    // tests is selected, so `npm run test:unit` never starts a cluster.
    {
      ...common,
      displayName: 'cluster',
      testMatch: clusterTests,
      globalSetup: '<rootDir>/test/cluster/global-setup.ts',
      globalTeardown: '<rootDir>/test/cluster/global-teardown.ts',
    },
  ],
};
