import http from 'node:http';
import { listen, type RunningServer } from '../src/lib/http-server.js';

/** An OpenAI-style upstream for benchmarks: fixed JSON body after a configurable delay. */
export interface MockUpstreamOptions {
  /** Delay before the response, in ms (0 = answer at once). */
  delayMs?: number;
}

const BODY = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
});

export async function startMockUpstream(options: MockUpstreamOptions = {}): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const send = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
        res.end(BODY);
      };
      if (options.delayMs) setTimeout(send, options.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 65_000;
  return listen(server, 0, '127.0.0.1');
}
