import { parseArgs } from 'node:util';
import { stdio, UsageError, withTimeout, type Io } from './cli-support.js';
import { createKnex } from '../db/knex.js';
import {
  ADMIN_NAME_PATTERN,
  ADMIN_NAME_RULE,
  createAdmin,
  findAdminDtoByName,
  listAdminDtos,
  updateAdminById,
  type AdminDto,
} from '../domain/admins.service.js';
import type { WriteContext, WriteDeps } from '../domain/write-context.js';
import { AppError } from '../lib/errors.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { redactString } from '../lib/logger.js';
import { generatePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../lib/password.js';

/**
 * `ez-api admins create|list|reset-password` (docs/admins.md): named admins without the api, e.g.
 * the first one. A password piped on stdin is used (its first line); otherwise a strong one is
 * generated and printed once. Exit codes: 0 done, 1 failed (database, name taken, unknown name),
 * 2 usage error, bad password or configuration. The CLI acts like the bootstrap token.
 */

export const ADMINS_USAGE = `Usage: ez-api admins <command>

  create NAME [--role admin|viewer]   create a named admin (default role: admin)
  list [--json]                       list named admins
  reset-password NAME                 set a new password; ends the admin's sessions, lifts a lock

The password is read from stdin when it is piped (first line; ${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH}
characters), e.g. \`printf '%s\\n' "$PW" | ez-api admins create alice\`; otherwise a strong one is
generated and printed once. Needs EZ_PG_DSN.
`;

/** Who the audit events name. */
export const ADMINS_ACTOR: WriteContext = { actor: { type: 'system', id: 'admins-cli' } };

/** Longest wait for a piped password (a pipe that is never closed must not hang the command). */
const STDIN_TIMEOUT_MS = 30_000;
const STDIN_MAX_BYTES = 4_096;

type AdminsArgs =
  | { command: 'create'; name: string; role: 'admin' | 'viewer' }
  | { command: 'list'; json: boolean }
  | { command: 'reset-password'; name: string }
  | 'help';

function parseAdminsArgs(argv: string[]): AdminsArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        role: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const [sub, name, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
  if (values.role !== undefined && sub !== 'create') throw new UsageError('--role goes with create');
  if (sub === 'list') {
    if (name !== undefined) throw new UsageError(`unexpected argument: ${name}`);
    return { command: 'list', json: values.json };
  }
  if (sub !== 'create' && sub !== 'reset-password') {
    throw new UsageError(sub === undefined ? 'missing subcommand (create, list, reset-password)' : `unknown subcommand "${sub}"`);
  }
  if (name === undefined) throw new UsageError(`${sub} needs a NAME`);
  const lower = name.toLowerCase();
  if (!ADMIN_NAME_PATTERN.test(lower)) throw new UsageError(`NAME ${ADMIN_NAME_RULE}`);
  if (sub === 'reset-password') return { command: 'reset-password', name: lower };
  const role = values.role ?? 'admin';
  if (role !== 'admin' && role !== 'viewer') throw new UsageError('--role must be admin or viewer');
  return { command: 'create', name: lower, role };
}

/** The first line piped on stdin, '' when stdin is empty; undefined when stdin is a terminal. */
async function pipedPassword(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined;
  const read = (async () => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > STDIN_MAX_BYTES) break;
    }
    return Buffer.concat(chunks).toString('utf8');
  })();
  const text = await withTimeout(read, STDIN_TIMEOUT_MS, 'reading the password from stdin');
  return (text.split(/\r?\n/)[0] ?? '').replace(/\s+$/, '');
}

/** The password to set and whether it was generated (then it is printed once). */
async function passwordToSet(io: Io): Promise<{ password: string; generated: boolean } | undefined> {
  const piped = await pipedPassword();
  if (piped === undefined || piped === '') return { password: generatePassword(), generated: true };
  if (piped.length < PASSWORD_MIN_LENGTH || piped.length > PASSWORD_MAX_LENGTH) {
    await io.err(`ez-api admins: the password on stdin must be ${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters\n`);
    return undefined;
  }
  return { password: piped, generated: false };
}

function formatList(admins: AdminDto[]): string {
  if (admins.length === 0) return 'No named admins.\n';
  const rows = admins.map((a) => [String(a.id), a.name, a.role, a.locked_until ? `${a.status} (locked)` : a.status, a.last_login_at ?? '-']);
  const header = ['ID', 'NAME', 'ROLE', 'STATUS', 'LAST LOGIN'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

async function run(args: Exclude<AdminsArgs, 'help'>, deps: WriteDeps, io: Io): Promise<number> {
  if (args.command === 'list') {
    const { data } = await listAdminDtos(deps.knex, {}, { limit: 200, offset: 0 });
    await io.out(args.json ? `${JSON.stringify(data, null, 2)}\n` : formatList(data));
    return 0;
  }
  const existing = args.command === 'reset-password' ? await findAdminDtoByName(deps.knex, args.name) : undefined;
  if (args.command === 'reset-password' && !existing) {
    await io.err(`ez-api admins: no admin named ${args.name}\n`);
    return 1;
  }
  const secret = await passwordToSet(io);
  if (!secret) return 2;
  const admin =
    args.command === 'create'
      ? await createAdmin(deps, ADMINS_ACTOR, { name: args.name, password: secret.password, role: args.role })
      : await updateAdminById(deps, ADMINS_ACTOR, {}, existing!.id, { password: secret.password });
  const done = args.command === 'create' ? 'Created' : 'Reset the password of';
  await io.out(`${done} admin ${admin.name} (id ${admin.id}, role ${admin.role}).\n`);
  if (secret.generated) await io.out(`Password (shown once, store it now): ${secret.password}\n`);
  return 0;
}

export async function adminsCommand(argv: string[], io: Io = stdio): Promise<number> {
  let args: AdminsArgs;
  try {
    args = parseAdminsArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await io.err(`ez-api admins: ${err.message}\n\n${ADMINS_USAGE}`);
    return 2;
  }
  if (args === 'help') {
    await io.out(ADMINS_USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig();
    if (!config.pg.dsn) throw new ConfigError(['EZ_PG_DSN: required by ez-api admins (e.g. postgres://user:pass@host:5432/ez_api)']);
  } catch (err) {
    if (err instanceof ConfigError) {
      await io.err(`ez-api admins: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const knex = createKnex({ dsn: config.pg.dsn, poolMax: 2, applicationName: 'ez-api-admins' });
  try {
    // Admin writes leave no outbox rows (nothing about admins lives in Redis): no sync nudge.
    return await run(args, { knex, nudge: async () => {} }, io);
  } catch (err) {
    const message = err instanceof AppError ? err.message : redactString(err instanceof Error ? err.message : String(err));
    await io.err(`ez-api admins: failed: ${message}\n`);
    return 1;
  } finally {
    await knex.destroy();
  }
}
