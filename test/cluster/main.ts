// `npm run cluster`: the integration-test control plane for a developer's shell. Builds
// or reuses the binaries, starts the cluster, prints how to use it, stops on Ctrl-C.
import {
  apiRequest,
  BinariesUnavailableError,
  ENV_STATE,
  ensureBinaries,
  startCluster,
} from './harness.js';

try {
  const binDir = await ensureBinaries();
  const cluster = await startCluster({ binDir });
  const version = await apiRequest(cluster, 'GET', '/version');
  const gitVersion = (JSON.parse(version.body) as { gitVersion?: string }).gitVersion ?? 'unknown';
  process.stdout.write(
    [
      '',
      `Test cluster is up: Kubernetes ${gitVersion} at ${cluster.server}, one kwok node.`,
      `Logs: ${cluster.dir}/logs`,
      '',
      `  export KUBECONFIG=${cluster.kubeconfigPath}`,
      '',
      'To run the integration tests against this cluster instead of a fresh one:',
      '',
      `  export ${ENV_STATE}=${cluster.stateFile}`,
      '',
      'Press Ctrl-C to stop it.',
      '',
    ].join('\n'),
  );
  // The harness's signal handlers stop the cluster and exit; until then stay alive.
  setInterval(() => undefined, 1 << 30);
} catch (err) {
  process.stderr.write(`\n[figway cluster] ${(err as Error).message}\n`);
  process.exit(err instanceof BinariesUnavailableError ? 3 : 1);
}
