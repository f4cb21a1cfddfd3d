import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';

/**
 * Configuration, parsed once per process (DESIGN §3).
 * Precedence: environment > config file > defaults. Config-file keys are the variable names
 * (`EZ_API_PORT: 8080`) or the same names without the prefix, in any case (`api_port: 8080`).
 */

const port = z.coerce.number().int().min(1).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const optionalString = z.string().trim().min(1).optional();
const secretString = (min: number) => z.string().trim().min(min, `must be at least ${min} characters`).optional();
const list = z
  .string()
  .optional()
  .transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined));

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const ENVIRONMENTS = ['development', 'test', 'production'] as const;

const optionalHttpUrl = z.string().trim().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL').optional();

/** The raw schema: one entry per variable, keyed by its name so every error names the variable. */
export const rawConfigSchema = z.object({
  EZ_ENV: z.enum(ENVIRONMENTS).optional(),
  EZ_HOST: z.string().trim().min(1).default('0.0.0.0'),
  EZ_API_PORT: port.default(8080),
  EZ_GATEWAY_PORT: port.default(8081),
  EZ_PG_DSN: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  EZ_PG_POOL_MAX: positiveInt.default(10),
  EZ_REDIS_ADDR: optionalString,
  EZ_REDIS_URL: z.string().trim().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  EZ_REDIS_DB: nonNegativeInt.default(0),
  EZ_REDIS_PASSWORD: optionalString,
  EZ_QUEUE_PREFIX: z.string().trim().min(1).default('ez'),
  EZ_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  EZ_LOG_QUEUE: positiveInt.default(10_000),
  EZ_LOG_BATCH_SIZE: positiveInt.default(500),
  EZ_LOG_FLUSH_MS: positiveInt.default(1_000),
  EZ_LOG_RETENTION_DAYS: positiveInt.default(30),
  EZ_LOG_MAX_RECORDS: positiveInt.default(1_000_000),
  EZ_SECRET: secretString(32),
  EZ_ADMIN_TOKEN: secretString(16),
  EZ_INTERNAL_TOKEN: secretString(16),
  EZ_ADMIN_JWT_TTL_SECONDS: z.coerce.number().int().min(300).max(604_800).default(43_200),
  EZ_WORKER_QUEUES: list,
  EZ_WORKER_CONCURRENCY: positiveInt.default(4),
  EZ_WORKER_LOCK_DURATION_MS: positiveInt.default(30_000),
  EZ_WORKER_STALLED_INTERVAL_MS: positiveInt.default(30_000),
  EZ_SYNC_INTERVAL_MS: positiveInt.default(10_000),
  EZ_SYNC_BATCH_SIZE: positiveInt.default(100),
  EZ_SYNC_MAX_RETRIES: positiveInt.default(10),
  EZ_WEBHOOK_BACKOFF_MS: positiveInt.default(30_000),
  EZ_WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
  EZ_OAUTH_SWEEP_INTERVAL_MS: positiveInt.default(60_000),
  EZ_OAUTH_TIMEOUT_MS: positiveInt.default(15_000),
  EZ_OAUTH_LEAD_CODEX_MS: positiveInt.default(86_400_000),
  EZ_OAUTH_LEAD_CLAUDE_CODE_MS: positiveInt.default(14_400_000),
  EZ_OAUTH_LEAD_GEMINI_CLI_MS: positiveInt.default(300_000),
  EZ_OAUTH_LEAD_ANTIGRAVITY_MS: positiveInt.default(300_000),
  EZ_OAUTH_TOKEN_URL_CODEX: optionalHttpUrl,
  EZ_OAUTH_TOKEN_URL_CLAUDE_CODE: optionalHttpUrl,
  EZ_OAUTH_TOKEN_URL_GEMINI_CLI: optionalHttpUrl,
  EZ_OAUTH_TOKEN_URL_ANTIGRAVITY: optionalHttpUrl,
  EZ_OAUTH_CLIENT_ID_CODEX: optionalString,
  EZ_OAUTH_CLIENT_ID_CLAUDE_CODE: optionalString,
  EZ_OAUTH_CLIENT_ID_GEMINI_CLI: optionalString,
  EZ_OAUTH_CLIENT_ID_ANTIGRAVITY: optionalString,
  EZ_OAUTH_CLIENT_SECRET_GEMINI_CLI: optionalString,
  EZ_OAUTH_CLIENT_SECRET_ANTIGRAVITY: optionalString,
  EZ_API_BODY_LIMIT_BYTES: positiveInt.default(1_048_576),
  EZ_GATEWAY_BODY_LIMIT_BYTES: positiveInt.default(20_971_520),
  EZ_GATEWAY_REQUEST_DEADLINE_MS: z.coerce.number().int().min(1_000).default(600_000),
  EZ_REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
  EZ_HEADERS_TIMEOUT_MS: positiveInt.default(10_000),
  EZ_SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  EZ_DATA_DIR: z.string().trim().min(1).default('.data'),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface RedisSettings {
  /** ioredis connection URL (redis://[:password@]host:port/db). */
  url: string;
  /** True when neither EZ_REDIS_URL nor EZ_REDIS_ADDR was given. */
  defaulted: boolean;
}

export interface Config {
  env: Environment;
  /** Development and test generate missing secrets under dataDir; production requires them. */
  isDev: boolean;
  host: string;
  apiPort: number;
  gatewayPort: number;
  pg: { dsn: string | undefined; poolMax: number };
  redis: RedisSettings;
  queuePrefix: string;
  log: {
    level: (typeof LOG_LEVELS)[number];
    /** Gateway in-memory log buffer bound (records). */
    queueSize: number;
    batchSize: number;
    flushMs: number;
    retentionDays: number;
    maxRecords: number;
  };
  secrets: { master: string | undefined; adminToken: string | undefined; internalToken: string | undefined };
  /** Lifetime of an admin JWT from `POST /admin/login` (s; 300–604800, default 12 h; docs/admins.md). */
  adminJwtTtlSeconds: number;
  worker: {
    queues: string[] | undefined;
    concurrency: number;
    /** How long a job stays locked to a worker without renewal (a crashed worker's jobs return after it). */
    lockDurationMs: number;
    /** How often stalled jobs (crashed workers) are looked for. */
    stalledIntervalMs: number;
  };
  sync: { intervalMs: number; batchSize: number; maxRetries: number };
  webhooks: {
    /** First retry delay of a failed delivery; it doubles on each further retry (docs/webhooks.md). */
    backoffMs: number;
    /** Deadline of one delivery attempt (connect, send, answer). */
    timeoutMs: number;
  };
  /** OAuth refresh of subscription upstream keys (docs/oauth-refresh.md). */
  oauth: {
    sweepIntervalMs: number;
    /** Deadline of one token-endpoint call. */
    timeoutMs: number;
    types: Record<'codex' | 'claude-code' | 'gemini-cli' | 'antigravity', OAuthTypeSettings>;
  };
  http: {
    apiBodyLimitBytes: number;
    gatewayBodyLimitBytes: number;
    /** Overall deadline of one proxied request, streams included (docs/http-edge.md). */
    gatewayDeadlineMs: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    shutdownTimeoutMs: number;
  };
  dataDir: string;
  /** Where the values came from, for the start-up banner (never the values). */
  configFile: string | undefined;
}

/** Per OAuth type: refresh this long before expiry; undefined endpoint/client = the built-in default. */
export interface OAuthTypeSettings {
  leadMs: number;
  tokenUrl: string | undefined;
  clientId: string | undefined;
  /** Google installed-app clients need theirs; never in code (PROVIDERS.md). */
  clientSecret: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const KNOWN_KEYS = new Set(Object.keys(rawConfigSchema.shape));

function findConfigFile(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (env.EZ_CONFIG_FILE) {
    const file = path.resolve(cwd, env.EZ_CONFIG_FILE);
    if (!existsSync(file)) throw new ConfigError([`EZ_CONFIG_FILE: ${file} does not exist`]);
    return file;
  }
  return ['config.yaml', 'config/config.yaml'].map((f) => path.resolve(cwd, f)).find((f) => existsSync(f));
}

function readConfigFile(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = YAML.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML (${(err as Error).message.split('\n')[0]})`]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError([`${file}: must be a mapping of settings`]);
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const name = key.toUpperCase().startsWith('EZ_') ? key.toUpperCase() : `EZ_${key.toUpperCase()}`;
    if (!KNOWN_KEYS.has(name)) {
      problems.push(`${file}: unknown setting "${key}"`);
      continue;
    }
    out[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

function redisSettings(raw: RawConfig): RedisSettings {
  if (raw.EZ_REDIS_URL) return { url: raw.EZ_REDIS_URL, defaulted: false };
  const addr = raw.EZ_REDIS_ADDR ?? 'localhost:6379';
  const auth = raw.EZ_REDIS_PASSWORD ? `:${encodeURIComponent(raw.EZ_REDIS_PASSWORD)}@` : '';
  return { url: `redis://${auth}${addr}/${raw.EZ_REDIS_DB}`, defaulted: raw.EZ_REDIS_ADDR === undefined };
}

function resolveEnvironment(raw: RawConfig, env: NodeJS.ProcessEnv): Environment {
  if (raw.EZ_ENV) return raw.EZ_ENV;
  if (env.NODE_ENV === 'production') return 'production';
  if (env.NODE_ENV === 'test') return 'test';
  return 'development';
}

/** Parses the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const configFile = findConfigFile(env, cwd);
  const fromFile = configFile ? readConfigFile(configFile) : {};
  const fromEnv = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => KNOWN_KEYS.has(k) && v !== undefined && v !== ''),
  );
  const result = rawConfigSchema.safeParse({ ...fromFile, ...fromEnv });
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`));
  }
  const raw = result.data;
  const environment = resolveEnvironment(raw, env);
  const isDev = environment !== 'production';
  if (!isDev && !raw.EZ_SECRET) {
    throw new ConfigError(['EZ_SECRET: required in production (at least 32 characters; e.g. `openssl rand -hex 32`)']);
  }
  return {
    env: environment,
    isDev,
    host: raw.EZ_HOST,
    apiPort: raw.EZ_API_PORT,
    gatewayPort: raw.EZ_GATEWAY_PORT,
    pg: { dsn: raw.EZ_PG_DSN, poolMax: raw.EZ_PG_POOL_MAX },
    redis: redisSettings(raw),
    queuePrefix: raw.EZ_QUEUE_PREFIX,
    log: {
      level: raw.EZ_LOG_LEVEL,
      queueSize: raw.EZ_LOG_QUEUE,
      batchSize: raw.EZ_LOG_BATCH_SIZE,
      flushMs: raw.EZ_LOG_FLUSH_MS,
      retentionDays: raw.EZ_LOG_RETENTION_DAYS,
      maxRecords: raw.EZ_LOG_MAX_RECORDS,
    },
    secrets: { master: raw.EZ_SECRET, adminToken: raw.EZ_ADMIN_TOKEN, internalToken: raw.EZ_INTERNAL_TOKEN },
    adminJwtTtlSeconds: raw.EZ_ADMIN_JWT_TTL_SECONDS,
    worker: {
      queues: raw.EZ_WORKER_QUEUES,
      concurrency: raw.EZ_WORKER_CONCURRENCY,
      lockDurationMs: raw.EZ_WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: raw.EZ_WORKER_STALLED_INTERVAL_MS,
    },
    sync: { intervalMs: raw.EZ_SYNC_INTERVAL_MS, batchSize: raw.EZ_SYNC_BATCH_SIZE, maxRetries: raw.EZ_SYNC_MAX_RETRIES },
    webhooks: { backoffMs: raw.EZ_WEBHOOK_BACKOFF_MS, timeoutMs: raw.EZ_WEBHOOK_TIMEOUT_MS },
    oauth: {
      sweepIntervalMs: raw.EZ_OAUTH_SWEEP_INTERVAL_MS,
      timeoutMs: raw.EZ_OAUTH_TIMEOUT_MS,
      types: {
        codex: { leadMs: raw.EZ_OAUTH_LEAD_CODEX_MS, tokenUrl: raw.EZ_OAUTH_TOKEN_URL_CODEX, clientId: raw.EZ_OAUTH_CLIENT_ID_CODEX, clientSecret: undefined },
        'claude-code': { leadMs: raw.EZ_OAUTH_LEAD_CLAUDE_CODE_MS, tokenUrl: raw.EZ_OAUTH_TOKEN_URL_CLAUDE_CODE, clientId: raw.EZ_OAUTH_CLIENT_ID_CLAUDE_CODE, clientSecret: undefined },
        'gemini-cli': {
          leadMs: raw.EZ_OAUTH_LEAD_GEMINI_CLI_MS,
          tokenUrl: raw.EZ_OAUTH_TOKEN_URL_GEMINI_CLI,
          clientId: raw.EZ_OAUTH_CLIENT_ID_GEMINI_CLI,
          clientSecret: raw.EZ_OAUTH_CLIENT_SECRET_GEMINI_CLI,
        },
        antigravity: {
          leadMs: raw.EZ_OAUTH_LEAD_ANTIGRAVITY_MS,
          tokenUrl: raw.EZ_OAUTH_TOKEN_URL_ANTIGRAVITY,
          clientId: raw.EZ_OAUTH_CLIENT_ID_ANTIGRAVITY,
          clientSecret: raw.EZ_OAUTH_CLIENT_SECRET_ANTIGRAVITY,
        },
      },
    },
    http: {
      apiBodyLimitBytes: raw.EZ_API_BODY_LIMIT_BYTES,
      gatewayBodyLimitBytes: raw.EZ_GATEWAY_BODY_LIMIT_BYTES,
      gatewayDeadlineMs: raw.EZ_GATEWAY_REQUEST_DEADLINE_MS,
      requestTimeoutMs: raw.EZ_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: raw.EZ_HEADERS_TIMEOUT_MS,
      shutdownTimeoutMs: raw.EZ_SHUTDOWN_TIMEOUT_MS,
    },
    dataDir: path.resolve(cwd, raw.EZ_DATA_DIR),
    configFile,
  };
}
