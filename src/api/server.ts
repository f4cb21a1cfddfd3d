import { createServer } from 'node:http';
import { listen, type RunningServer } from '../lib/http-server.js';
import { createApiApp, type ApiAppOptions } from './app.js';
import type { ApiDeps } from './deps.js';

/**
 * Idle keep-alive sockets stay open longer than the 60 s idle timeout of common load balancers,
 * so the balancer, not us, closes them (otherwise it can reuse a socket we just closed → 502).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

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
  const server = createServer(
    {
      requestTimeout: http.requestTimeoutMs,
      // Node requires headersTimeout <= requestTimeout.
      headersTimeout: Math.min(http.headersTimeoutMs, http.requestTimeoutMs),
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    },
    app.callback(),
  );
  const running = await listen(server, port ?? apiDeps.config.apiPort, host ?? apiDeps.config.host);
  apiDeps.logger.child({ module: 'api' }).info({ url: running.url }, 'api listening');
  return running;
}
