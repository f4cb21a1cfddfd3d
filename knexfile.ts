import { loadConfig } from './src/lib/config.js';
import { migrationConfig } from './src/db/knex.js';

/** For the knex CLI; the product itself migrates through `ez-api migrate` (src/bin/migrate.ts). */
const config = loadConfig();

export default {
  client: 'pg',
  connection: config.pg.dsn,
  migrations: migrationConfig(),
};
