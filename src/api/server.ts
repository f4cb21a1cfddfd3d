import { createServer } from 'node:http';
import { clientErrorHandler, serverTimeouts, type ClientErrorKind } from '../lib/client-error.js';
import { AppError, type AppErrorCode } from '../lib/errors.js';
import { listen, type RunningServer } from '../lib/http-server.js';
import { createApiApp, type ApiAppOptions } from './app.js';
import type { ApiDeps } from './deps.js';
import { mapError } from './middleware/error-handler.js';

/**
 * Idle keep-alive sockets stay open longer than the 60 s idle timeout of common load balancers,
 * so the balancer, not us, closes them (otherwise it can reuse a socket we just closed → 502).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** The api error code of each request node's parser refuses (docs/http-edge.md). */
const CLIENT_ERROR_CODES: Readonly<Record<ClientErrorKind, AppErrorCode>> = {
  malformed: 'validation_failed',
  headers_too_large: 'validation_failed',
  chunk_extensions_too_large: 'payload_too_large',
  timeout: 'request_timeout',
};

export interface StartApiOptions extends ApiDeps {
  /** Default config.apiPort; 0 picks a free port. */
  port?: number;
  /** Default config.host. */
  host?: string;
  app?: ApiAppOptions;
}

/** Creates the api app and listens; close() on the result is graceful. */
export async function startApi(deps: StartApiOptions): Promise<RunningServer> {
  const { port, host, app: appOptions, ...apiDeps } = deps;
  const { http } = apiDeps.config;
  const app = createApiApp(apiDeps, appOptions);
  const server = createServer({ ...serverTimeouts(http), keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, app.callback());
  // Requests node's parser refuses or that arrive too slowly: the api's JSON error body (docs/http-edge.md).
  server.on('clientError', clientErrorHandler(apiDeps.logger.child({ module: 'api' }), (reply) => mapError(new AppError(CLIENT_ERROR_CODES[reply.kind], reply.message)).body));
  const running = await listen(server, port ?? apiDeps.config.apiPort, host ?? apiDeps.config.host);
  apiDeps.logger.child({ module: 'api' }).info({ url: running.url }, 'api listening');
  return running;
}
