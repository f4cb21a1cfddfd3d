import http from 'node:http';
import { listen, type RunningServer } from '../src/lib/http-server.js';

/**
 * An OpenAI-style upstream for benchmarks. A request whose JSON body says `"stream": true` gets an
 * SSE stream of `chunks` chat.completion.chunk events `chunkIntervalMs` apart (then a usage chunk
 * and `[DONE]`); any other request gets a fixed chat.completion JSON body. Both start after
 * `delayMs`. The behaviour can be changed while running (`configure`), so one mock process serves
 * every configuration of a scenario: the gateway sends no client-chosen headers upstream, so the
 * behaviour cannot ride on the request.
 */
export interface MockUpstreamOptions {
  /** Delay before the response starts, in ms (0 = answer at once). */
  delayMs?: number;
  /** Content chunks in a streamed answer (default 10). */
  chunks?: number;
  /** Gap between streamed chunks, in ms (0 = write them back to back; default 0). */
  chunkIntervalMs?: number;
}

export interface MockUpstream extends RunningServer {
  configure(options: MockUpstreamOptions): void;
}

const BODY = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
});
const BODY_LENGTH = Buffer.byteLength(BODY);

const chunkEvent = (content: string, finish: string | null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'bench-model',
    choices: [{ index: 0, delta: finish ? {} : { content }, finish_reason: finish }],
  })}\n\n`;
const CONTENT_EVENT = chunkEvent('tok ', null);
const FINAL_EVENTS =
  chunkEvent('', 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 0, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 } })}\n\n` +
  'data: [DONE]\n\n';

/** `"stream": true` anywhere at the top level of a small JSON body; no full parse on the hot path. */
const STREAM_FLAG = /"stream"\s*:\s*true/;

export async function startMockUpstream(initial: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const options = { delayMs: 0, chunks: 10, chunkIntervalMs: 0, ...initial };

  const stream = (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const { chunks, chunkIntervalMs } = options;
    if (chunkIntervalMs <= 0) {
      res.end(CONTENT_EVENT.repeat(chunks) + FINAL_EVENTS);
      return;
    }
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) {
        clearInterval(timer);
        return;
      }
      if (sent < chunks) {
        res.write(CONTENT_EVENT);
        sent++;
        return;
      }
      clearInterval(timer);
      res.end(FINAL_EVENTS);
    }, chunkIntervalMs);
    // The first chunk goes out at once; the interval spaces the rest.
    res.write(CONTENT_EVENT);
    sent++;
  };

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const wantsStream = STREAM_FLAG.test(Buffer.concat(parts).toString('latin1'));
      const send = () => {
        if (wantsStream) return stream(res);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY_LENGTH });
        res.end(BODY);
      };
      if (options.delayMs > 0) setTimeout(send, options.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 65_000;
  const running = await listen(server, 0, '127.0.0.1');
  return {
    ...running,
    configure(next) {
      Object.assign(options, Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)));
    },
  };
}
