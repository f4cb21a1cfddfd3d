import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { expect } from 'chai';
import { createQueues } from '../../jobs/queues.js';
import type { Redis } from 'ioredis';
import type { ApiAppOptions } from '../../src/api/app.js';
import type { ApiDeps } from '../../src/api/deps.js';
import { startApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import type { ResolvedSecrets } from '../../src/lib/secrets.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

export const ADMIN_TOKEN = 'ezadm_test-admin-token-0123456789';
export const BODY_LIMIT_BYTES = 2_048;
/** The api's EZ_SECRET: keys digest and upstream secrets seal under it. */
export const EZ_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestApi {
  url: string;
  deps: ApiDeps;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * A real api server on 127.0.0.1:0 over the test PostgreSQL and Redis, with a unique Bull Board
 * queue. `redisUrl` points the producer connection elsewhere (e.g. a closed port).
 */
export async function startTestApi(options: {
  queueName: string;
  redisUrl?: string;
  app?: ApiAppOptions;
  logger?: Logger;
}): Promise<TestApi> {
  const env = testEnv();
  const cwd = mkdtempSync(path.join(tmpdir(), 'ez-api-test-'));
  const config = loadConfig({
    env: {
      EZ_ENV: 'test',
      EZ_PG_DSN: env.pgUrl,
      EZ_REDIS_URL: env.redisUrl,
      EZ_ADMIN_TOKEN: ADMIN_TOKEN,
      EZ_SECRET,
      EZ_API_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
      EZ_LOG_LEVEL: 'silent',
    },
    cwd,
  });
  const secrets: ResolvedSecrets = {
    master: EZ_SECRET,
    adminToken: ADMIN_TOKEN,
    internalToken: 'ezint_test-internal-token-0123456789',
    generated: [],
  };
  const redis: Redis = createRedis({ url: options.redisUrl ?? env.redisUrl, defaulted: false }, 'producer');
  redis.on('error', () => {}); // a down Redis is a scenario under test, not a crash
  if (!options.redisUrl) await waitForRedis(redis, 5_000);
  const queues = createQueues({ url: env.redisUrl, defaulted: false }, `ez-test-${options.queueName}-${randomUUID().slice(0, 8)}`);
  const queue = queues.get('log-retention');
  const deps: ApiDeps = {
    config,
    secrets,
    knex: env.knex,
    redis,
    queues,
    logger: options.logger ?? createLogger({ level: 'silent' }),
  };
  let server: RunningServer;
  try {
    server = await startApi({ ...deps, port: 0, host: '127.0.0.1', ...(options.app ? { app: options.app } : {}) });
  } catch (err) {
    await queues.close();
    await closeRedis(redis);
    throw err;
  }
  return {
    url: server.url,
    deps,
    queue,
    async close() {
      await server.close();
      for (const q of queues.list()) await q.obliterate({ force: true }).catch(() => {});
      await queues.close();
      await closeRedis(redis);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

export interface ErrorJson {
  error: { code: string; message: string; details?: Array<{ field: string; message: string }> };
}

/** The DESIGN error body's field names (`details[].field`), `[]` when there are none. */
export const fields = (body: ErrorJson) => (body.error.details ?? []).map((d) => d.field);

/** One paged list answer of the admin api. */
export interface Page<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number };
}

/** An api answer: `body` is the parsed JSON (undefined when the answer is empty), `text` the raw text. */
export interface Reply<T> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/**
 * Sends one request to `url + path`. A body is sent as JSON (a string as is, for malformed input),
 * with `Content-Type: application/json`; no body, no content type.
 */
export async function send<T = unknown>(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: (text ? JSON.parse(text) : undefined) as T };
}

/** `token: null` sends no Authorization header; left out, the client's default token is used. */
export interface RequestOptions {
  token?: string | null;
  body?: unknown;
}

/** Request helpers bound to one api; `D` is the body type a call assumes when given none. */
export interface ApiClient<D = unknown> {
  /** `headers` replaces the default bearer credentials (`{}` sends none). */
  call<T = D>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>>;
  req<T = D>(method: string, path: string, options?: RequestOptions): Promise<Reply<T>>;
}

/** A client of the api at `url()` (read at each request), authenticating with `token` (the admin token unless given; null for none). */
export function apiClient<D = unknown>(url: () => string, options: { token?: string | null } = {}): ApiClient<D> {
  const defaultToken = options.token === undefined ? ADMIN_TOKEN : options.token;
  const auth = (token: string | null): Record<string, string> => (token ? bearer(token) : {});
  return {
    call: <T = D>(method: string, path: string, body?: unknown, headers: Record<string, string> = auth(defaultToken)) => send<T>(url(), method, path, body, headers),
    req: <T = D>(method: string, path: string, { token, body }: RequestOptions = {}) =>
      send<T>(url(), method, path, body, auth(token === undefined ? defaultToken : token)),
  };
}

/** A test api for one describe block, with its request helpers; `url`, `deps` and `queue` are readable once `before` ran. */
export interface TestApiHandle<D = unknown> extends ApiClient<D> {
  readonly url: string;
  readonly deps: ApiDeps;
  readonly queue: Queue;
}

/**
 * Registers the usual hooks of an admin api suite: start a test api `before`, close it `after`, and
 * reset the database `beforeEach` (call it before the suite's own beforeEach so seeding comes after).
 */
export function useTestApi<D = unknown>(queueName: string, options: { token?: string | null } = {}): TestApiHandle<D> {
  let api: TestApi | undefined;
  const started = (): TestApi => {
    if (!api) throw new Error(`test api ${queueName} is not started`);
    return api;
  };
  before(async function () {
    api = await startTestApi({ queueName });
  });
  after(async function () {
    await api?.close();
  });
  beforeEach(async function () {
    await resetDatabase();
  });
  return {
    ...apiClient<D>(() => started().url, options),
    get url() {
      return started().url;
    },
    get deps() {
      return started().deps;
    },
    get queue() {
      return started().queue;
    },
  };
}

/**
 * Asserts a DESIGN error body (`{ error: { code, message, details? } }`): the status, the code, a
 * non-empty message and, when `field` is given, that `details[].field` names it. Returns the error.
 */
export function expectError(res: { status: number; body: unknown; text?: string }, status: number, code: string, field?: string): ErrorJson['error'] {
  const context = res.text ?? JSON.stringify(res.body);
  expect(res.status, context).to.equal(status);
  const { error } = res.body as ErrorJson;
  expect(error.code, context).to.equal(code);
  expect(error.message).to.be.a('string').and.not.equal('');
  if (field) expect(error.details?.map((d) => d.field), context).to.include(field);
  return error;
}

/** {@link expectError} for a field error, by default a 400 `validation_failed`. */
export function expectFieldError(reply: { status: number; body: unknown; text?: string }, field: string, status = 400, code = 'validation_failed'): void {
  expectError(reply, status, code, field);
}
