// Credentials of the test control plane: a CA, the API server's serving certificate,
// service-account signing keys and static bearer tokens. Made fresh for every cluster.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  tokenFile: string;
  tokens: Tokens;
}

/** One bearer token per identity, so RBAC and the audit trail see real users. */
export interface Tokens {
  admin: string;
  controllerManager: string;
  scheduler: string;
  kwok: string;
}

// Node's crypto cannot issue X.509 certificates, so certificates come from the openssl CLI.
async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('openssl is not installed; the test cluster needs it to make certificates', {
        cause: err,
      });
    }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

// The API server answers on loopback; in-cluster names are listed for pods that read the
// kube-root-ca.crt ConfigMap (no traffic goes to the service IP).
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = figway-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
`;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makePki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
  await openssl(
    [
      'req',
      '-x509',
      '-config',
      'openssl.cnf',
      '-extensions',
      'ca',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ].concat(['-days', '3650', '-subj', '/CN=figway-test-ca']),
    dir,
  );
  await openssl(
    [
      'req',
      '-new',
      '-config',
      'openssl.cnf',
      ...EC,
      '-keyout',
      'apiserver.key',
      '-out',
      'apiserver.csr',
    ].concat(['-subj', '/CN=kube-apiserver']),
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
    ].concat([
      '-days',
      '3650',
      '-extfile',
      'openssl.cnf',
      '-extensions',
      'server',
      '-out',
      'apiserver.crt',
    ]),
    dir,
  );

  const sa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey);
  writeFileSync(join(dir, 'sa.key'), sa.privateKey, { mode: 0o600 });

  const token = (): string => randomBytes(24).toString('hex');
  const tokens: Tokens = {
    admin: token(),
    controllerManager: token(),
    scheduler: token(),
    kwok: token(),
  };
  // token,user,uid,"groups": the bootstrap RBAC roles bind the controller manager and
  // scheduler by user name; the admin and kwok act as cluster administrators.
  const lines = [
    `${tokens.admin},figway-test-admin,figway-test-admin,"system:masters"`,
    `${tokens.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
    `${tokens.scheduler},system:kube-scheduler,system:kube-scheduler`,
    `${tokens.kwok},kwok,kwok,"system:masters"`,
  ];
  const tokenFile = join(dir, 'tokens.csv');
  writeFileSync(tokenFile, lines.join('\n') + '\n', { mode: 0o600 });

  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'apiserver.crt'),
    serverKey: join(dir, 'apiserver.key'),
    saPublicKey: join(dir, 'sa.pub'),
    saPrivateKey: join(dir, 'sa.key'),
    tokenFile,
    tokens,
  };
}
