#!/usr/bin/env node
import { buildInfo } from '../lib/version.js';
import { adminsCommand } from './admins.command.js';
import { exportCommand, importCommand } from './import-export.command.js';
import { pricesCommand } from './prices.command.js';
import { bootstrap, exitWithProblem, runMigrations, serve, SERVE_ROLES, type ServeRole } from './runtime.js';

const USAGE = `Usage: ez-api <command>

Commands:
  serve all          api + worker + gateway in one process; starts throwaway local
                     PostgreSQL/Redis when EZ_PG_DSN / EZ_REDIS_ADDR are not set
  serve api          the admin/master REST API (EZ_API_PORT, default 8080)
  serve worker       the BullMQ processors (EZ_WORKER_QUEUES picks queues)
  serve gateway      the proxy (EZ_GATEWAY_PORT, default 8081)
  migrate            apply pending database migrations
  import FILE        import an exporter-format JSON file
                     [--dry-run] [--conflict skip|overwrite] [--include-bindings] [--json]
  export             write the configuration as JSON [--out FILE] (stdout by default)
  prices load        load the default price table into the model registry
                     [--file FILE] [--overwrite] [--dry-run] [--json]
  admins create NAME [--role admin|viewer]
                     create a named admin (password from stdin when piped,
                     else generated and printed once)
  admins list        list named admins [--json]
  admins reset-password NAME
                     set a new password (stdin or generated); ends its sessions
  --version, -v      print name, version and commit
  --help, -h         this text
`;

/** The one-shot commands: each gets the arguments after its name and returns the exit code. */
const COMMANDS = new Map<string, (argv: string[]) => Promise<number>>([
  ['import', importCommand],
  ['export', exportCommand],
  ['prices', pricesCommand],
  ['admins', adminsCommand],
]);

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${buildInfo.name} ${buildInfo.version} (${buildInfo.commit.slice(0, 12)})\n`);
    return;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'migrate') {
    await runMigrations(bootstrap('migrate'));
    return;
  }
  const oneShot = COMMANDS.get(command);
  if (oneShot) {
    // exitCode, not exit(): stdout may be a pipe still flushing the summary or the document.
    process.exitCode = await oneShot(args);
    return;
  }
  if (command === 'serve') {
    const [role] = args;
    if (!role || !SERVE_ROLES.includes(role as ServeRole)) {
      process.stderr.write(`ez-api: serve needs one of: ${SERVE_ROLES.join(', ')}\n\n${USAGE}`);
      process.exit(2);
    }
    await serve(role as ServeRole);
    return;
  }
  process.stderr.write(`ez-api: unknown command "${command}"\n\n${USAGE}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch(exitWithProblem);
