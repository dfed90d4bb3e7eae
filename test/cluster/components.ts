// The command lines of the control plane's components: everything on 127.0.0.1, all
// state under the cluster's directory, each component with its own identity.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { ComponentName } from './binaries.js';
import type { Pki } from './pki.js';
import type { ComponentSpec } from './processes.js';

/** The fake node that kwok manages; pods are scheduled onto it. */
export const NODE_NAME = 'kwok-node-0';
const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';
/** Only an allocation range for Service cluster IPs: no traffic goes there. */
const SERVICE_CIDR = '10.96.0.0/16';

export interface ComponentParams {
  binDir: string;
  dir: string;
  pki: Pki;
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiServer: number;
    controllerManager: number;
    scheduler: number;
  };
  kubeconfigs: { controllerManager: string; scheduler: string; kwok: string };
}

export function etcdUrl(ports: ComponentParams['ports']): string {
  return `http://127.0.0.1:${ports.etcdClient}`;
}

export function logFile(dir: string, name: ComponentName): string {
  return join(dir, 'logs', `${name}.log`);
}

export function componentSpecs(p: ComponentParams): Record<ComponentName, ComponentSpec> {
  const { binDir, dir, pki } = p;
  const bin = (name: ComponentName): string => join(binDir, name);
  const log = (name: ComponentName): string => logFile(dir, name);
  const clientUrl = etcdUrl(p.ports);
  const peerUrl = `http://127.0.0.1:${p.ports.etcdPeer}`;
  const kwokWorkDir = join(dir, 'kwok');
  mkdirSync(kwokWorkDir, { recursive: true });
  return {
    etcd: {
      name: 'etcd',
      command: bin('etcd'),
      args: [
        '--name=figway-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=figway-test=${peerUrl}`,
        // Throwaway data: durability only costs time.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logFile: log('etcd'),
    },
    'kube-apiserver': {
      name: 'kube-apiserver',
      command: bin('kube-apiserver'),
      args: [
        `--etcd-servers=${clientUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${p.ports.apiServer}`,
        `--cert-dir=${join(dir, 'kube-apiserver')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--token-auth-file=${pki.tokenFile}`,
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPublicKey}`,
        `--service-account-signing-key-file=${pki.saPrivateKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=true',
        '--profiling=false',
        // The "kubernetes" Service cannot have a loopback endpoint (the reconciler would
        // log a validation error every 10s); nothing in the tests reaches it.
        '--endpoint-reconciler-type=none',
        // Bounded graceful shutdown for stop() and restartApiServer(): by default the HTTP
        // server waits up to --request-timeout (60s) for open watches. This closes watches
        // within 2s and shuts the HTTP server down 2s after in-flight requests drained.
        '--shutdown-watch-termination-grace-period=2s',
        '--shutdown-send-retry-after=true',
      ],
      logFile: log('kube-apiserver'),
    },
    'kube-controller-manager': {
      name: 'kube-controller-manager',
      command: bin('kube-controller-manager'),
      args: [
        `--kubeconfig=${p.kubeconfigs.controllerManager}`,
        `--authentication-kubeconfig=${p.kubeconfigs.controllerManager}`,
        `--authorization-kubeconfig=${p.kubeconfigs.controllerManager}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.ports.controllerManager}`,
        `--cert-dir=${join(dir, 'kube-controller-manager')}`,
        '--leader-elect=false',
        '--controllers=*',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.saPrivateKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--profiling=false',
      ],
      logFile: log('kube-controller-manager'),
    },
    'kube-scheduler': {
      name: 'kube-scheduler',
      command: bin('kube-scheduler'),
      args: [
        `--kubeconfig=${p.kubeconfigs.scheduler}`,
        `--authentication-kubeconfig=${p.kubeconfigs.scheduler}`,
        `--authorization-kubeconfig=${p.kubeconfigs.scheduler}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${p.ports.scheduler}`,
        `--cert-dir=${join(dir, 'kube-scheduler')}`,
        '--leader-elect=false',
        '--profiling=false',
      ],
      logFile: log('kube-scheduler'),
    },
    // Without Stage objects in its config, kwok v0.7 applies its built-in node-fast and
    // pod-fast stages (pkg/kwok/cmd/root.go): nodes turn Ready, scheduled pods turn
    // Running and Ready, deleted pods go away. KWOK_WORKDIR keeps ~/.kwok/kwok.yaml out.
    kwok: {
      name: 'kwok',
      command: bin('kwok'),
      args: [
        `--kubeconfig=${p.kubeconfigs.kwok}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
        // Addresses written into pod and node status only; nothing listens or connects.
        '--cidr=10.244.0.1/24',
        '--node-ip=10.244.0.1',
        '--node-lease-duration-seconds=40',
      ],
      logFile: log('kwok'),
      env: { KWOK_WORKDIR: kwokWorkDir },
    },
  };
}

/** The Node object kwok takes over (by annotation); no taint, so any pod may land on it. */
export function fakeNode(): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: NODE_NAME,
      annotations: { [KWOK_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': NODE_NAME,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    spec: {},
  };
}
