// For integration tests: the cluster that the Jest global setup started, or a loud skip.
import { ENV_KUBECONFIG, ENV_SKIP, ENV_STATE } from './harness.js';

export interface TestClusterEnv {
  /** Kubeconfig of a cluster administrator. */
  kubeconfigPath: string;
  /** For attachCluster(), e.g. to restart the API server. */
  stateFile: string;
}

/**
 * The test cluster, or undefined when there is none and tests must skip (a developer
 * without Go). In CI (CI=true) a missing cluster is an error, never a skip.
 */
export function testClusterEnv(): TestClusterEnv | undefined {
  const kubeconfigPath = process.env[ENV_KUBECONFIG];
  const stateFile = process.env[ENV_STATE];
  if (kubeconfigPath && stateFile) return { kubeconfigPath, stateFile };
  const reason =
    process.env[ENV_SKIP] ??
    `${ENV_KUBECONFIG} is not set: the Jest global setup test/cluster/global-setup.ts did not run`;
  if (process.env.CI === 'true') throw new Error(`no test cluster in CI: ${reason}`);
  console.warn(
    [
      '#'.repeat(78),
      `# SKIPPING integration tests that need a Kubernetes API server:`,
      `# ${reason}`,
      '#'.repeat(78),
    ].join('\n'),
  );
  return undefined;
}
