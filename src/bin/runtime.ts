import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import type { RunningServer } from '../lib/http-server.js';
import { MissingBinaryError, startLocalPostgres, startLocalRedis } from '../lib/local-services.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { closeRedis, createRedis, waitForRedis, type RedisRole } from '../lib/redis.js';
import { resolveSecrets, type ResolvedSecrets } from '../lib/secrets.js';
import { ShutdownManager } from '../lib/shutdown.js';

/**
 * Process bootstrap shared by every entry point (src/bin/*.ts and `ez-api serve`): parse the
 * configuration once, resolve secrets, build the logger and the shutdown manager, then open only
 * what the role needs. The gateway never opens PostgreSQL.
 *
 * Each role's modules are imported when the role starts, not at the top of this file: a gateway
 * process then never loads Koa, Bull Board, the processors, knex or pg (about half its memory and
 * start-up time when it did).
 */
export interface Runtime {
  config: Config;
  secrets: ResolvedSecrets;
  logger: Logger;
  shutdown: ShutdownManager;
}

export type Role = 'api' | 'worker' | 'gateway' | 'all' | 'migrate';

/** Prints a configuration or start-up problem without a stack trace and exits non-zero. */
export function exitWithProblem(err: unknown): never {
  if (err instanceof ConfigError || err instanceof MissingBinaryError) {
    process.stderr.write(`ez-api: ${err.message}\n`);
    process.exit(2);
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    process.stderr.write(`ez-api: ${(err as Error).message}; choose another port (EZ_API_PORT / EZ_GATEWAY_PORT)\n`);
    process.exit(2);
  }
  process.stderr.write(`ez-api: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

export function bootstrap(role: Role, env: NodeJS.ProcessEnv = process.env): Runtime {
  const config = loadConfig({ env });
  const secrets = resolveSecrets(config);
  const logger = createLogger({ level: config.log.level, name: `ez-api-${role}` });
  const shutdown = new ShutdownManager(logger, config.http.shutdownTimeoutMs);
  return { config, secrets, logger, shutdown };
}

function requireDsn(config: Config, role: Role): string {
  if (!config.pg.dsn) {
    throw new ConfigError([`EZ_PG_DSN: required by the ${role} process (e.g. postgres://user:pass@host:5432/ez_api)`]);
  }
  return config.pg.dsn;
}

async function openDatabase(rt: Runtime, role: Role): Promise<Knex> {
  const { createKnex } = await import('../db/knex.js');
  const knex = createKnex({ dsn: requireDsn(rt.config, role), poolMax: rt.config.pg.poolMax, applicationName: `ez-api-${role}` });
  rt.shutdown.add('postgres', () => knex.destroy());
  return knex;
}

async function openRedis(rt: Runtime, role: RedisRole, name: string): Promise<Redis> {
  const redis = createRedis(rt.config.redis, role, name);
  // Log connection trouble once per state change instead of letting ioredis print unhandled errors.
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) rt.logger.warn({ err: { message: err.message }, connection: name }, 'redis connection error');
    lastError = err.message;
  });
  redis.on('ready', () => {
    lastError = '';
  });
  rt.shutdown.add(`redis:${name}`, () => closeRedis(redis));
  await waitForRedis(redis, 15_000);
  return redis;
}

export async function runMigrations(rt: Runtime): Promise<string[]> {
  const { createKnex, migrateLatest } = await import('../db/knex.js');
  const knex = createKnex({ dsn: requireDsn(rt.config, 'migrate'), poolMax: 2, applicationName: 'ez-api-migrate' });
  try {
    const applied = await migrateLatest(knex);
    rt.logger.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
    return applied;
  } finally {
    await knex.destroy();
  }
}

export async function runApi(rt: Runtime): Promise<RunningServer> {
  const knex = await openDatabase(rt, 'api');
  const redis = await openRedis(rt, 'producer', 'ez-api:api');
  const [{ startApi }, { createQueues }] = await Promise.all([import('../api/server.js'), import('../../jobs/queues.js')]);
  const queueSet = createQueues(rt.config.redis, rt.config.queuePrefix);
  rt.shutdown.add('queues', () => queueSet.close());
  const server = await startApi({
    config: rt.config,
    secrets: rt.secrets,
    knex,
    redis,
    queues: queueSet,
    logger: rt.logger.child({ process: 'api' }),
  });
  rt.shutdown.add('api http server', () => server.close());
  return server;
}

export async function runWorker(rt: Runtime): Promise<{ queues: string[] }> {
  const knex = await openDatabase(rt, 'worker');
  const { startWorker } = await import('../../jobs/worker.js');
  const worker = await startWorker({ config: rt.config, secrets: { master: rt.secrets.master }, knex, logger: rt.logger.child({ process: 'worker' }) });
  rt.shutdown.add('worker', () => worker.close());
  return worker;
}

export async function runGateway(rt: Runtime): Promise<RunningServer> {
  // Fail fast: a request must get a 503 (or a cached answer), never wait for a reconnect.
  const redis = await openRedis(rt, 'producer', 'ez-api:gateway');
  const { startGateway } = await import('../gateway/server.js');
  const server = await startGateway({
    config: rt.config,
    secrets: { master: rt.secrets.master },
    redis,
    logger: rt.logger.child({ process: 'gateway' }),
  });
  rt.shutdown.add('gateway http server', () => server.close());
  rt.logger.info({ url: server.url }, 'gateway listening');
  return server;
}

/** Replaces missing PostgreSQL/Redis settings with throwaway local servers (DESIGN §1). */
async function withLocalServices(rt: Runtime): Promise<Runtime> {
  const started: string[] = [];
  let { config } = rt;
  const [pg, redis] = await Promise.all([
    config.pg.dsn ? undefined : startLocalPostgres({ baseDir: config.dataDir }),
    config.redis.defaulted ? startLocalRedis({ baseDir: config.dataDir }) : undefined,
  ]);
  if (pg) {
    rt.shutdown.add('local postgres', () => pg.stop());
    config = { ...config, pg: { ...config.pg, dsn: pg.url } };
    started.push(`PostgreSQL at ${pg.url}`);
  }
  if (redis) {
    rt.shutdown.add('local redis', () => redis.stop());
    config = { ...config, redis: { url: redis.url, defaulted: false } };
    started.push(`Redis at ${redis.url}`);
  }
  for (const line of started) rt.logger.info(`started throwaway ${line} (removed on exit)`);
  return { ...rt, config };
}

function banner(rt: Runtime, api: RunningServer, gateway: RunningServer): string {
  const token = rt.secrets.generated.includes('EZ_ADMIN_TOKEN')
    ? `${rt.secrets.adminToken}   (generated; kept in ${rt.config.dataDir}/secrets/admin-token)`
    : '(from EZ_ADMIN_TOKEN)';
  return [
    '',
    'EZ-API is running',
    `  admin API      ${api.url}        (docs: ${api.url}/docs, queues: ${api.url}/admin/queues)`,
    `  gateway        ${gateway.url}`,
    `  admin token    ${token}`,
    '',
    'Try:',
    `  curl -s ${api.url}/health/ready`,
    `  curl -s -H "Authorization: Bearer ${rt.secrets.generated.includes('EZ_ADMIN_TOKEN') ? rt.secrets.adminToken : '$EZ_ADMIN_TOKEN'}" ${api.url}/admin/whoami`,
    '',
    'Press Ctrl+C to stop.',
    '',
  ].join('\n');
}

/** `npm start`: local services when no URLs are set, migrations, then api + worker + gateway. */
export async function runAll(base: Runtime): Promise<void> {
  const rt = await withLocalServices(base);
  await runMigrations(rt);
  // Closers run in reverse: gateway, worker, api stop before the local servers they depend on.
  const api = await runApi(rt);
  await runWorker(rt);
  const gateway = await runGateway(rt);
  process.stdout.write(banner(rt, api, gateway));
}

const starters = { all: runAll, api: runApi, worker: runWorker, gateway: runGateway } as const;
export type ServeRole = keyof typeof starters;
export const SERVE_ROLES = Object.keys(starters) as ServeRole[];

/** Starts one role with signal handling; a failed start closes whatever it had opened. */
export async function serve(role: ServeRole): Promise<void> {
  const rt = bootstrap(role);
  rt.shutdown.installSignalHandlers();
  try {
    await starters[role](rt);
  } catch (err) {
    await rt.shutdown.shutdown('start-up failed');
    throw err;
  }
}
