import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { QueueSet } from '../../jobs/queues.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { ResolvedSecrets } from '../lib/secrets.js';

/** What the api process hands to createApiApp (src/bin/api.ts builds and closes these). */
export interface ApiDeps {
  config: Config;
  secrets: ResolvedSecrets;
  knex: Knex;
  /** ioredis connection in the `producer` role (fails fast while Redis is down). */
  redis: Redis;
  /** The catalog's queues: enqueue (sync nudges) and Bull Board at /admin/queues. */
  queues: QueueSet;
  logger: Logger;
}
