// Kubernetes helpers shared by the tests that run on the real control plane.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/**
 * A KubeConfig for the admin's cluster that authenticates as a ServiceAccount with a
 * TokenRequest token, so a test acts with exactly the permissions RBAC gives that account.
 */
export async function serviceAccountKubeConfig(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<KubeConfig> {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const response = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = response.status?.token;
  if (!token) throw new Error(`no token issued for ServiceAccount ${namespace}/${serviceAccount}`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: serviceAccount, token }],
    contexts: [{ name: serviceAccount, cluster: cluster.name, user: serviceAccount }],
    currentContext: serviceAccount,
  });
  return kc;
}
