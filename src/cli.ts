#!/usr/bin/env node
// The `figway` command: one binary, several entry points (DESIGN.md). Installed as
// kubectl-figway too, so `kubectl figway status` is the same program.
import { parseArgs } from 'node:util';
import { documentLocation, formatFieldError, readYamlDocuments } from './api/index.js';
import { inputName, readInput } from './common/input.js';
import { FIGWAY_VERSION } from './version.js';

type Command = (args: string[]) => Promise<number>;

/** Exit codes every command keeps to; --help and the README list them. */
const EXIT_CODES = `exit codes:
  0  success
  1  failure: invalid input (an invalid ApiRoute, an unreadable file) or a failed operation
     (the API server or Prometheus refused or could not be reached)
  2  usage error: unknown command or flag, missing or extra argument`;

const VALIDATE_USAGE = `usage: figway validate FILE...   (FILE - reads standard input)

Checks every ApiRoute in the files offline, as the API server and the operator would:
each error with file, document and field path. Documents of other kinds are skipped, so
\`kustomize build | figway validate -\` works. YAML is read as kubectl reads it (YAML 1.1).

  -h, --help   this help`;

/** `figway validate FILE...`: every error with file, document and field path; exit 1 on any. */
async function validateCommand(args: string[]): Promise<number> {
  let files: string[];
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' } },
    });
    if (parsed.values.help === true) {
      process.stdout.write(`${VALIDATE_USAGE}\n`);
      return 0;
    }
    files = parsed.positionals;
  } catch (error) {
    process.stderr.write(`figway validate: ${(error as Error).message}\n${VALIDATE_USAGE}\n`);
    return 2;
  }
  if (files.length === 0) {
    process.stderr.write(`figway validate: no FILE given\n${VALIDATE_USAGE}\n`);
    return 2;
  }
  let failed = 0;
  let valid = 0;
  let skipped = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (error) {
      process.stderr.write(`${inputName(file)}: cannot read: ${(error as Error).message}\n`);
      failed += 1;
      continue;
    }
    const documents = readYamlDocuments(text);
    skipped += documents.skipped;
    for (const result of documents.apiRoutes) {
      const where = documentLocation(inputName(file), result);
      if (result.errors.length === 0) {
        valid += 1;
        continue;
      }
      failed += 1;
      for (const error of result.errors) {
        process.stderr.write(`${where}: ${formatFieldError(error)}\n`);
      }
    }
  }
  const summary = `${valid} valid, ${failed} invalid${skipped > 0 ? `, ${skipped} of other kinds skipped` : ''}`;
  (failed > 0 ? process.stderr : process.stdout).write(`${summary}\n`);
  return failed > 0 ? 1 : 0;
}

interface CommandEntry {
  run: Command;
  /** One line for `figway --help`. */
  summary: string;
  /** The command's --help text, for shell completion (loaded only then). */
  usage: () => Promise<string>;
}

// Each command loads its own modules when it runs, so `figway validate` in a pre-commit
// hook does not pay for the Kubernetes client and the proxy.
const commands: Record<string, CommandEntry> = {
  validate: {
    run: validateCommand,
    summary: 'validate FILE...     check ApiRoute YAML offline (- reads stdin)',
    usage: () => Promise.resolve(VALIDATE_USAGE),
  },
  render: {
    run: async (args) => (await import('./operator/render.js')).renderCommand(args),
    summary: 'render FILE...       print the objects the operator creates',
    usage: async () => (await import('./operator/render.js')).RENDER_USAGE,
  },
  status: {
    run: async (args) => (await import('./operator/status-command.js')).statusCommand(args),
    summary: 'status [NAME]        shares, error ratios, conditions and Events per route',
    usage: async () => (await import('./operator/status-command.js')).STATUS_USAGE,
  },
  migration: {
    run: async (args) => (await import('./operator/migration/cli.js')).migrationCommand(args),
    summary: 'migration VERB NAME  status, promote, pause, resume or abort a migration',
    usage: async () => (await import('./operator/migration/cli.js')).MIGRATION_USAGE,
  },
  operator: {
    run: async (args) => (await import('./operator/command.js')).operatorCommand(args),
    summary: 'operator [flags]     run the Kubernetes operator',
    usage: async () => (await import('./operator/command.js')).OPERATOR_USAGE,
  },
  gateway: {
    run: async (args) => (await import('./gateway/command.js')).gatewayCommand(args),
    summary: "gateway --config F   run one ApiRoute's gateway",
    usage: async () => (await import('./gateway/command.js')).GATEWAY_USAGE,
  },
  dev: {
    // The autopilot is the operator's; the gateway's demo gets it only when asked for.
    run: async (args) =>
      (await import('./gateway/dev.js')).devCommand(
        args,
        args.includes('--migrate')
          ? (await import('./operator/migration/demo.js')).runDemoMigration
          : undefined,
      ),
    summary: 'dev                  demo: monolith, new service and gateway on loopback',
    usage: async () => (await import('./gateway/dev.js')).DEV_USAGE,
  },
  completion: {
    run: async (args) => (await import('./completion.js')).completionCommand(args, commandUsages),
    summary: 'completion SHELL     print a bash or zsh completion script',
    usage: async () => (await import('./completion.js')).COMPLETION_USAGE,
  },
  version: {
    run: (args) => versionCommand(args),
    summary: 'version              print the version',
    usage: () => Promise.resolve(VERSION_USAGE),
  },
};

const VERSION_USAGE = 'usage: figway version   (or figway --version)';

function versionCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${VERSION_USAGE}\n`);
    return Promise.resolve(0);
  }
  if (args.length > 0) {
    process.stderr.write(`figway version: unexpected arguments: ${args.join(' ')}\n`);
    return Promise.resolve(2);
  }
  process.stdout.write(`figway ${FIGWAY_VERSION}\n`);
  return Promise.resolve(0);
}

/** Every command's --help text, by name. */
async function commandUsages(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(commands).map(async ([name, c]) => [name, await c.usage()] as const),
  );
  return Object.fromEntries(entries);
}

function usage(): string {
  const lines = Object.values(commands).map((c) => `  ${c.summary}`);
  return [
    'usage: figway COMMAND [ARGS]   (or: kubectl figway COMMAND [ARGS])',
    '',
    'commands:',
    ...lines,
    '',
    'Every command takes --help. figway --version prints the version.',
    '',
    EXIT_CODES,
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(`${usage()}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (name === '--version') return versionCommand(args);
  const command = commands[name];
  if (!command) {
    process.stderr.write(`figway: unknown command ${JSON.stringify(name)}\n${usage()}\n`);
    return 2;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `figway: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
