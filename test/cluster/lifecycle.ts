// One test cluster for a whole Jest run: started by the global setup, stopped by the
// global teardown. Environment variables set here reach the test workers, which start
// after the setup.
import {
  attachCluster,
  BinariesUnavailableError,
  clusterIsAlive,
  ENV_KUBECONFIG,
  ENV_SKIP,
  ENV_STATE,
  ensureBinaries,
  startCluster,
} from './harness.js';

/** Set when the cluster was started outside this run (`npm run cluster`): leave it up. */
const ENV_EXTERNAL = 'FIGWAY_TEST_CLUSTER_EXTERNAL';

export async function setupTestCluster(): Promise<void> {
  // A developer's `npm run cluster` prints FIGWAY_TEST_CLUSTER_STATE: reuse that cluster.
  const existing = process.env[ENV_STATE];
  if (existing && clusterIsAlive(existing)) {
    const cluster = await attachCluster(existing);
    process.env[ENV_KUBECONFIG] = cluster.kubeconfigPath;
    process.env[ENV_EXTERNAL] = '1';
    process.stderr.write(`[figway cluster] using the running test cluster at ${cluster.server}\n`);
    return;
  }
  // Unset, or left over from a stopped `npm run cluster`: start a fresh cluster.
  process.env[ENV_STATE] = '';

  let binDir: string;
  try {
    binDir = await ensureBinaries();
  } catch (err) {
    if (err instanceof BinariesUnavailableError && process.env.CI !== 'true') {
      process.env[ENV_SKIP] = err.message;
      const bar = '#'.repeat(78);
      process.stderr.write(
        `\n${bar}\n# Integration tests will be SKIPPED: ${err.message}.\n${bar}\n\n`,
      );
      return;
    }
    throw err;
  }
  const cluster = await startCluster({ binDir });
  process.env[ENV_KUBECONFIG] = cluster.kubeconfigPath;
  process.env[ENV_STATE] = cluster.stateFile;
}

export async function teardownTestCluster(): Promise<void> {
  const stateFile = process.env[ENV_STATE];
  if (!stateFile || process.env[ENV_EXTERNAL]) return;
  const cluster = await attachCluster(stateFile);
  await cluster.stop();
}
