import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createQueues, enqueue, type QueueSet } from '../../jobs/queues.js';
import { createKnex } from '../db/knex.js';
import type { WriteDeps } from '../domain/write-context.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { AppError } from '../lib/errors.js';
import { redactString } from '../lib/logger.js';
import { resolveSecrets } from '../lib/secrets.js';

/**
 * What the one-shot CLI commands (import, export, prices, admins) share: argument parsing, the
 * usage/exit-code contract, configuration, the database and sync-queue connections, output.
 *
 * Exit codes: 0 done (or --help), 1 failed (e.g. database), 2 usage error, invalid input or
 * configuration. Every message on stderr starts with `ez-api <command>:`; stdout carries only
 * the result. Error text from anything but an AppError is redacted before it is printed.
 */

export interface Io {
  out(text: string): Promise<void>;
  err(text: string): Promise<void>;
}

const writeTo = (stream: NodeJS.WriteStream) => (text: string) =>
  new Promise<void>((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));

export const stdio: Io = { out: writeTo(process.stdout), err: writeTo(process.stderr) };

/** A mistake in the arguments: printed with the command's usage text, exit code 2. */
export class UsageError extends Error {}

/** Stops a command with `ez-api <command>: <message>` on stderr and the given exit code. */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** `--help` / `-h` was given: runCommand prints the usage text on stdout, exit code 0. */
class HelpRequested extends Error {}

// ---------------------------------------------------------------------------------------------
// arguments
// ---------------------------------------------------------------------------------------------

type OptionsConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & {};

const HELP_OPTION = { help: { type: 'boolean', short: 'h', default: false } } as const;

/**
 * node:util parseArgs in strict mode with `--help`/`-h` added: an unknown or malformed option
 * becomes a UsageError carrying parseArgs' own message (it names the option), and `--help` ends
 * the command with its usage text. Positionals are allowed unless `allowPositionals` is false.
 */
export function parseCommandArgs<const O extends OptionsConfig, const P extends boolean = true>(
  argv: string[],
  spec: { options: O; allowPositionals?: P },
) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: (spec.allowPositionals ?? true) as P, options: { ...spec.options, ...HELP_OPTION } });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if ((parsed.values as { help: boolean }).help) throw new HelpRequested();
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// input files
// ---------------------------------------------------------------------------------------------

/** An input file's text; one that cannot be read stops the command (exit code 2). */
export async function readInputFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CommandFailure(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
}

/** The problems found in an input file, one indented line each (exit code 2). */
export function invalidFile(file: string, what: string, problems: string[]): CommandFailure {
  return new CommandFailure(`${file} is not a valid ${what} (${problems.length} problem(s)):${problems.map((p) => `\n  ${p}`).join('')}`, 2);
}

// ---------------------------------------------------------------------------------------------
// configuration and connections
// ---------------------------------------------------------------------------------------------

export interface CommandConfig {
  config: Config;
  dsn: string;
}

/**
 * The configuration a command needs, EZ_PG_DSN required (a ConfigError, exit code 2, names
 * `requiredBy`); with `secrets`, EZ_SECRET is resolved too (before the DSN is checked).
 */
export function loadCommandConfig(requiredBy: string): CommandConfig;
export function loadCommandConfig(requiredBy: string, options: { secrets: true }): CommandConfig & { master: string };
export function loadCommandConfig(requiredBy: string, options: { secrets?: boolean } = {}): CommandConfig & { master?: string } {
  const config = loadConfig();
  const master = options.secrets ? resolveSecrets(config).master : undefined;
  if (!config.pg.dsn) throw new ConfigError([`EZ_PG_DSN: required by ${requiredBy} (e.g. postgres://user:pass@host:5432/ez_api)`]);
  return { config, dsn: config.pg.dsn, master };
}

export interface ConnectOptions {
  /** Open the `sync` queue so committed writes nudge the sync worker (leave off on a dry run). */
  nudge?: boolean;
  /** How a failure is introduced on stderr; default `failed`. */
  failed?: string;
}

export interface CommandContext {
  config: Config;
  /** knex plus the sync nudge (which does nothing unless `nudge` was asked for). */
  deps: WriteDeps;
  /** Prints the sync warnings gathered so far (stderr), then `text` (stdout); returns exit code 0. */
  finish(text: string): Promise<number>;
}

export interface Command {
  io: Io;
  /**
   * Opens PostgreSQL (and the sync queue), runs `work`, and closes them whatever happens. An
   * error other than a CommandFailure becomes `ez-api <command>: failed: <message>`, exit code 1.
   */
  connect(loaded: CommandConfig, options: ConnectOptions, work: (ctx: CommandContext) => Promise<number>): Promise<number>;
}

/** Error text fit for a terminal: AppError messages are written for users; the rest is redacted. */
function errorText(err: unknown): string {
  if (err instanceof AppError) return err.message;
  return redactString(err instanceof Error ? err.message : String(err));
}

/**
 * Runs one command (`ez-api <name> …`): `body` parses its arguments and does the work, and
 * throws UsageError, CommandFailure or ConfigError to stop with a message and exit code 2 (or
 * the CommandFailure's). Anything else thrown before connecting propagates (the entry point
 * reports it).
 */
export async function runCommand(name: string, usage: string, io: Io, body: (command: Command) => Promise<number>): Promise<number> {
  const prefix = `ez-api ${name}`;
  const command: Command = {
    io,
    connect: async ({ config, dsn }, options, work) => {
      const knex = createKnex({ dsn, poolMax: 2, applicationName: `ez-api-${name}` });
      // Opened before the work starts, so the connection is up by the time the nudge is sent.
      const queues: QueueSet | undefined = options.nudge ? createQueues(config.redis, config.queuePrefix, ['sync']) : undefined;
      const warnings: string[] = [];
      const finish = async (text: string) => {
        for (const w of warnings) await io.err(`${prefix}: warning: ${w}\n`);
        await io.out(text);
        return 0;
      };
      try {
        return await work({ config, deps: { knex, ...cliSyncNudge(queues, warnings) }, finish });
      } catch (err) {
        if (err instanceof CommandFailure) throw err;
        await io.err(`${prefix}: ${options.failed ?? 'failed'}: ${errorText(err)}\n`);
        return 1;
      } finally {
        await queues?.close();
        await knex.destroy();
      }
    },
  };
  try {
    return await body(command);
  } catch (err) {
    if (err instanceof HelpRequested) {
      await io.out(usage);
      return 0;
    }
    if (err instanceof UsageError) {
      await io.err(`${prefix}: ${err.message}\n\n${usage}`);
      return 2;
    }
    if (err instanceof CommandFailure || err instanceof ConfigError) {
      await io.err(`${prefix}: ${err.message}\n`);
      return err instanceof CommandFailure ? err.exitCode : 2;
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------

/** A result for stdout: indented JSON with `--json`, else the command's readable text. */
export function jsonOrText<T>(value: T, json: boolean, format: (value: T) => string): string {
  return json ? jsonText(value) : format(value);
}

export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// timeouts and the sync nudge
// ---------------------------------------------------------------------------------------------

/** Time the sync nudge may take after commit before the command gives up on it (the sweeper covers it). */
const NUDGE_TIMEOUT_MS = 3_000;

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The nudge half of WriteDeps for a command: enqueue a `sync` job for the newest outbox row
 * (bounded in time; none on a dry run, when `queues` is undefined); a failure becomes a warning
 * the command prints, since the change is committed and the sweeper applies it anyway.
 */
function cliSyncNudge(queues: QueueSet | undefined, warnings: string[]): Pick<WriteDeps, 'nudge' | 'onNudgeError'> {
  return {
    nudge: async (outboxIds) => {
      if (!queues) return;
      const last = Math.max(...outboxIds);
      await withTimeout(
        (async () => {
          await queues.get('sync').waitUntilReady();
          await enqueue(queues, 'sync', { outboxId: last, reason: 'write' }, { jobId: `outbox-${last}` });
        })(),
        NUDGE_TIMEOUT_MS,
        'sync nudge',
      );
    },
    onNudgeError: (err) => {
      warnings.push(
        `could not notify the sync worker (${redactString((err as Error).message)}); the change is committed and the sync sweeper applies it within EZ_SYNC_INTERVAL_MS`,
      );
    },
  };
}
