import { CommandFailure, jsonOrText, loadCommandConfig, parseCommandArgs, runCommand, stdio, UsageError, withTimeout, type Io } from './cli-support.js';
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
import { generatePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../lib/password.js';

/**
 * `ez-api admins create|list|reset-password` (docs/admins.md): named admins without the api, e.g.
 * the first one. A password piped on stdin is used (its first line); otherwise a strong one is
 * generated and printed once. Exit codes (cli-support.ts): 0 done, 1 failed (database, name taken,
 * unknown name), 2 usage error, bad password or configuration. The CLI acts like the bootstrap token.
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
  | { command: 'reset-password'; name: string };

function parseAdminsArgs(argv: string[]): AdminsArgs {
  const { values, positionals } = parseCommandArgs(argv, {
    options: { role: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
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
async function passwordToSet(): Promise<{ password: string; generated: boolean }> {
  const piped = await pipedPassword();
  if (piped === undefined || piped === '') return { password: generatePassword(), generated: true };
  if (piped.length < PASSWORD_MIN_LENGTH || piped.length > PASSWORD_MAX_LENGTH) {
    throw new CommandFailure(`the password on stdin must be ${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters`, 2);
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

async function run(args: AdminsArgs, deps: WriteDeps, io: Io): Promise<number> {
  if (args.command === 'list') {
    const { data } = await listAdminDtos(deps.knex, {}, { limit: 200, offset: 0 });
    await io.out(jsonOrText(data, args.json, formatList));
    return 0;
  }
  const existing = args.command === 'reset-password' ? await findAdminDtoByName(deps.knex, args.name) : undefined;
  if (args.command === 'reset-password' && !existing) throw new CommandFailure(`no admin named ${args.name}`, 1);
  const secret = await passwordToSet();
  const admin =
    args.command === 'create'
      ? await createAdmin(deps, ADMINS_ACTOR, { name: args.name, password: secret.password, role: args.role })
      : await updateAdminById(deps, ADMINS_ACTOR, {}, existing!.id, { password: secret.password });
  const done = args.command === 'create' ? 'Created' : 'Reset the password of';
  await io.out(`${done} admin ${admin.name} (id ${admin.id}, role ${admin.role}).\n`);
  if (secret.generated) await io.out(`Password (shown once, store it now): ${secret.password}\n`);
  return 0;
}

export function adminsCommand(argv: string[], io: Io = stdio): Promise<number> {
  return runCommand('admins', ADMINS_USAGE, io, async (command) => {
    const args = parseAdminsArgs(argv);
    // Admin writes leave no outbox rows (nothing about admins lives in Redis): no sync nudge.
    return command.connect(loadCommandConfig('ez-api admins'), {}, ({ deps }) => run(args, deps, io));
  });
}
