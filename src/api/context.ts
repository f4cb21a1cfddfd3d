import type { ParameterizedContext } from 'koa';
import type { Logger } from '../lib/logger.js';

/** Who is calling. Admins today; masters and internal callers join the union later (DESIGN §7). */
export interface AdminActor {
  type: 'admin';
  /** `bootstrap` for EZ_ADMIN_TOKEN; `<name>#<id>` for a named admin (JWT; docs/admins.md). */
  id: string;
  /** `viewer` may only read (GET/HEAD); the bootstrap token is `admin`. */
  role: 'admin' | 'viewer';
  /** The named admin's row id and name; undefined for the bootstrap token. */
  adminId?: number;
  name?: string;
}
/** A tenant authenticated with its master key (`/v1/tokens` and the other master routes). */
export interface MasterActor {
  type: 'master';
  /** The master's id as a string (audit events). */
  id: string;
  masterId: number;
}
export type Actor = AdminActor | MasterActor;

/** What the api middleware puts on `ctx.state`. */
export interface ApiState {
  /** Set by middleware/request-id.ts on every request. */
  requestId: string;
  /** Request-scoped pino child carrying requestId. */
  logger: Logger;
  /** Parsed JSON body (middleware/body-parser.ts), before validation. */
  body?: unknown;
  /** Validated `{ params, query, body }` (middleware/validate.ts). */
  input?: unknown;
  /** Set by an auth middleware. */
  actor?: Actor;
}

export type ApiContext = ParameterizedContext<ApiState>;
