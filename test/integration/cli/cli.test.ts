// The figway CLI as a user meets it: version, --help on every command, exit codes, stdin,
// shell completion. Real processes from the sources.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { figway, root } from '../../tools/cli.js';

// Each test starts TypeScript processes; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

const COMMANDS = [
  'validate',
  'render',
  'status',
  'migration',
  'operator',
  'gateway',
  'dev',
  'completion',
  'version',
];

const example = readFileSync(join(root, 'examples', 'orders-first-path.yaml'), 'utf8');
const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: orders }\n';

describe('figway', () => {
  it('prints the version of package.json for --version and version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const args of [['--version'], ['version']]) {
      expect(await figway(args)).toEqual({ code: 0, stdout: `figway ${version}\n`, stderr: '' });
    }
  });

  it('answers --help on every command with its usage and exit 0, and lists the exit codes', async () => {
    const main = await figway(['--help']);
    expect(main.code).toBe(0);
    expect(main.stdout).toContain('exit codes:');
    for (const command of COMMANDS) expect(main.stdout).toContain(`  ${command} `);
    const results = await Promise.all(COMMANDS.map((c) => figway([c, '--help'])));
    results.forEach((result, i) => {
      expect({ command: COMMANDS[i], code: result.code, stderr: result.stderr }).toEqual({
        command: COMMANDS[i],
        code: 0,
        stderr: '',
      });
      expect(result.stdout).toContain(`usage: figway ${COMMANDS[i]}`);
    });
  });

  it('exits 2 on a usage error: unknown command, unknown flag, missing argument', async () => {
    for (const args of [
      ['nope'],
      ['validate', '--nope'],
      ['render', '--nope', 'x'],
      ['status', '--nope'],
      ['completion', 'fish'],
      [],
    ]) {
      const result = await figway(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain('usage: figway');
    }
  });

  it('validate - reads stdin and skips documents of other kinds (kustomize build | figway validate -)', async () => {
    const ok = await figway(['validate', '-'], { stdin: `${deployment}---\n${example}` });
    expect(ok).toEqual({
      code: 0,
      stdout: '1 valid, 0 invalid, 1 of other kinds skipped\n',
      stderr: '',
    });

    const bad = example.replace('name: orders\n', 'name: Orders_1\n');
    const refused = await figway(['validate', '-'], { stdin: bad });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `stdin: document 1 (Orders_1): metadata.name: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got "Orders_1"`,
    );
  });

  it('validate reads YAML as kubectl does and durations as the Gateway API writes them', async () => {
    const text = example
      .replace('{ monolith: true, weight: 90 }', '{ monolith: yes, weight: 90 }')
      .replace('timeout: 5s', 'timeout: 1m30s');
    expect(await figway(['validate', '-'], { stdin: text })).toEqual({
      code: 0,
      stdout: '1 valid, 0 invalid\n',
      stderr: '',
    });
  });

  it('render - renders from stdin', async () => {
    const result = await figway(['render', '-'], { stdin: `${deployment}---\n${example}` });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('name: orders-gateway');
    expect(result.stdout).not.toContain('kind: Deployment\nmetadata:\n  name: orders\n');
  });

  it('status exits 1 naming the API failure when the cluster cannot be reached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'figway-status-'));
    // A port that was free a moment ago: nothing listens there.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    server.close();
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: {} }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: shop } }]
current-context: x
`,
    );
    const result = await figway(['status', 'orders', '--kubeconfig', kubeconfig]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^figway status: cannot read ApiRoute shop\/orders: .*ECONNREFUSED/,
    );
    expect(result.stderr.split('\n')).toHaveLength(2);
  });

  it('completion prints a bash and a zsh script that the shells accept, with every flag of a command', async () => {
    const bash = await figway(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _figway figway kubectl-figway');
    expect(bash.stdout).toMatch(
      /status\) flags="[^"]*--prometheus-url[^"]*--watch|status\) flags="[^"]*--watch[^"]*--prometheus-url/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'figway-completion-'));
    writeFileSync(join(dir, 'figway.bash'), bash.stdout);
    execFileSync('bash', ['-n', join(dir, 'figway.bash')]);
    // The function completes: `figway sta<TAB>` → status.
    const completed = execFileSync('bash', [
      '-c',
      `source ${join(dir, 'figway.bash')}; COMP_WORDS=(figway sta); COMP_CWORD=1; _figway; echo "\${COMPREPLY[@]}"`,
    ]).toString();
    expect(completed.trim()).toBe('status');
    const zsh = await figway(['completion', 'zsh']);
    expect(zsh.stdout.startsWith('autoload -U +X bashcompinit && bashcompinit\n')).toBe(true);
  });
});
