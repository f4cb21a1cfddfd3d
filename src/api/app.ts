import Koa from 'koa';
import type { Registry } from 'prom-client';
import { createMetricsRegistry } from '../lib/metrics.js';
import { BULL_BOARD_PATH, bullBoard, isBullBoardPath } from './bull-board.js';
import type { ApiState } from './context.js';
import type { ApiDeps } from './deps.js';
import { accessLog } from './middleware/access-log.js';
import { adminAuth, bootstrapTokenVerifier, type AdminTokenVerifier } from './middleware/admin-auth.js';
import { adminJwtVerifier, adminTokenCodec } from './middleware/admin-jwt.js';
import { internalAuth } from './middleware/internal-auth.js';
import { masterAuth } from './middleware/master-auth.js';
import { KeyDigester } from '../lib/key-digest.js';
import { errorHandler } from './middleware/error-handler.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { notFound } from './middleware/not-found.js';
import { requestId } from './middleware/request-id.js';
import { securityHeaders } from './middleware/security-headers.js';
import { buildOpenApiDocument } from './openapi.js';
import { buildRouter, type ApiRoute, type RouteEnv } from './route.js';
import { apiRoutes } from './routes/index.js';

export type { ApiDeps } from './deps.js';

export interface ApiAppOptions {
  /** Trust X-Forwarded-* (Koa `app.proxy`) when running behind a reverse proxy. Default false. */
  trustProxy?: boolean;
  /** Routes served and documented; default every product route (routes/index.ts). */
  routes?: readonly ApiRoute[];
  /** Routes added to `routes` (tests, plugins). */
  extraRoutes?: readonly ApiRoute[];
  /** Default: a new `createMetricsRegistry('api')`. */
  metrics?: Registry;
  /** Admin credential verifiers tried in order; default the bootstrap token, then named admins' JWTs. */
  adminVerifiers?: AdminTokenVerifier[];
}

/** The Koa application of the api process (DESIGN §1 `web`). No sockets: see server.ts. */
export function createApiApp(deps: ApiDeps, options: ApiAppOptions = {}): Koa<ApiState> {
  const logger = deps.logger.child({ module: 'api' });
  const app = new Koa<ApiState>({ proxy: options.trustProxy ?? false });
  // Koa's own stderr printing is off; anything that escapes the error handler is logged here.
  app.silent = true;
  app.on('error', (err: unknown, ctx?: Koa.Context) => {
    const state = ctx?.state as Partial<ApiState> | undefined;
    // node:http already answered 408 and closed a client too slow to send its request (slowloris):
    // a client's doing, not an api fault, so it must not flood the error log.
    if ((err as { code?: unknown } | undefined)?.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      (state?.logger ?? logger).debug({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, 'client request timed out');
      return;
    }
    (state?.logger ?? logger).error({ err }, 'unhandled api error');
  });

  const metrics = options.metrics ?? createMetricsRegistry('api');
  const routes = [...(options.routes ?? apiRoutes), ...(options.extraRoutes ?? [])];
  const document = buildOpenApiDocument(routes);
  const env: RouteEnv = { deps, metrics, openapi: () => document, startedAt: new Date() };
  const verifiers = options.adminVerifiers ?? [
    bootstrapTokenVerifier(deps.secrets.adminToken),
    adminJwtVerifier({ knex: deps.knex, codec: adminTokenCodec(deps) }),
  ];
  const router = buildRouter(routes, {
    env,
    auth: {
      admin: adminAuth({ verifiers, challenge: 'bearer' }),
      master: masterAuth({ knex: deps.knex, digester: new KeyDigester(deps.secrets.master) }),
      internal: internalAuth({ internalToken: deps.secrets.internalToken }),
    },
    bodyLimitBytes: deps.config.http.apiBodyLimitBytes,
  });

  app.use(requestId(logger));
  app.use(securityHeaders());
  app.use(accessLog());
  app.use(httpMetrics({ registry: metrics, routeFor: (path) => (isBullBoardPath(path) ? BULL_BOARD_PATH : undefined) }));
  app.use(errorHandler());
  app.use(notFound());
  app.use(bullBoard({ queues: deps.queues.list(), auth: adminAuth({ verifiers, challenge: 'basic' }) }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
