#!/usr/bin/env node
// The `figway` command: one binary, several entry points (DESIGN.md).
import { readFile } from 'node:fs/promises';
import { documentLocation, formatFieldError, validateYamlDocuments } from './api/index.js';

type Command = (args: string[]) => Promise<number>;

/** `figway validate FILE...`: every error with file, document and field path; exit 1 on any. */
async function validateCommand(files: string[]): Promise<number> {
  if (files.length === 0) {
    process.stderr.write('usage: figway validate FILE...\n');
    return 2;
  }
  let failed = 0;
  let valid = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      process.stderr.write(`${file}: cannot read: ${(error as Error).message}\n`);
      failed += 1;
      continue;
    }
    for (const result of validateYamlDocuments(text)) {
      const where = documentLocation(file, result);
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
  const summary = `${valid} valid, ${failed} invalid`;
  (failed > 0 ? process.stderr : process.stdout).write(`${summary}\n`);
  return failed > 0 ? 1 : 0;
}

// Each command loads its own modules when it runs, so `figway validate` in a pre-commit
// hook does not pay for the Kubernetes client and the proxy.
const commands: Record<string, { run: Command; help: string }> = {
  validate: { run: validateCommand, help: 'validate FILE...    check ApiRoute YAML offline' },
  render: {
    run: async (args) => (await import('./operator/render.js')).renderCommand(args),
    help: 'render FILE...      print the objects the operator creates',
  },
  operator: {
    run: async (args) => (await import('./operator/command.js')).operatorCommand(args),
    help: 'operator [flags]    run the Kubernetes operator (--help for flags)',
  },
  gateway: {
    run: async (args) => (await import('./gateway/command.js')).gatewayCommand(args),
    help: "gateway --config F  run one ApiRoute's gateway (--help for options)",
  },
  migration: {
    run: async (args) => (await import('./operator/migration/cli.js')).migrationCommand(args),
    help: 'migration VERB NAME  status, promote, pause, resume or abort a migration (--help)',
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
    help: 'dev                 demo: monolith, new service and gateway on loopback',
  },
};

function usage(): string {
  const lines = Object.values(commands).map((c) => `  figway ${c.help}`);
  return ['usage:', ...lines].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
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
