import http from 'node:http';
import { Pool } from 'undici';
import { listen, type RunningServer } from '../src/lib/http-server.js';

/**
 * The yardstick of DESIGN §10: a pass-through proxy on node:http + one undici keep-alive Pool,
 * with no auth, routing or logs. The gateway's figures are reported as ratios against it.
 */
export async function startBareProxy(upstreamUrl: string): Promise<RunningServer> {
  const pool = new Pool(upstreamUrl, { connections: 128, pipelining: 1 });
  const server = http.createServer(async (req, res) => {
    try {
      const upstream = await pool.request({
        method: req.method as 'POST',
        path: req.url ?? '/',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: req,
      });
      const headers: Record<string, string> = {};
      const type = upstream.headers['content-type'];
      if (typeof type === 'string') headers['content-type'] = type;
      res.writeHead(upstream.statusCode, headers);
      for await (const chunk of upstream.body) res.write(chunk);
      res.end();
    } catch {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    }
  });
  server.keepAliveTimeout = 65_000;
  const running = await listen(server, 0, '127.0.0.1');
  return {
    ...running,
    async close() {
      await running.close();
      await pool.close();
    },
  };
}
