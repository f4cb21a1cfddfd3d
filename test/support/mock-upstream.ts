import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small provider simulator for gateway tests: OpenAI (chat, completions, embeddings, responses),
 * Anthropic (messages, count_tokens) and Gemini (generateContent, streamGenerateContent) on one
 * loopback port, with scripted faults. Every request is recorded (method, path, headers, body).
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown> | undefined;
  /** Resolves when the client side of this request's connection closed. */
  closed: Promise<number>;
}

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'destroy' }
  /** Streams `chunks` events, then cuts the connection. */
  | { kind: 'cut-stream'; after: number }
  | { kind: 'delay'; ms: number };

export interface MockUpstream {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Faults served to the next requests, in order (one each); empty → normal answers. */
  faults: Fault[];
  /** Text the model "says" (split into stream chunks by word). */
  reply: string;
  /** Gap between stream chunks (ms). */
  chunkIntervalMs: number;
  close(): Promise<void>;
}

const words = (text: string) => text.split(/(?<= )/);

function sse(res: http.ServerResponse, data: unknown, event?: string): void {
  res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

export async function startMockUpstream(): Promise<MockUpstream> {
  const state: Pick<MockUpstream, 'requests' | 'faults' | 'reply' | 'chunkIntervalMs'> = {
    requests: [],
    faults: [],
    reply: 'Hello from the mock upstream',
    chunkIntervalMs: 0,
  };
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const closed = new Promise<number>((resolve) => res.once('close', () => resolve(Date.now())));
      state.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, closed });
      void serve(req, res, json ?? {});
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** Cuts a stream mid-way, after what was written has left. */
  const cut = async (res: http.ServerResponse) => {
    await sleep(20);
    res.socket?.destroy();
  };

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, body: Record<string, unknown>): Promise<void> {
    const fault = state.faults.shift();
    if (fault?.kind === 'hang') return; // never answers; the client must time out or abort
    if (fault?.kind === 'destroy') return void req.socket.destroy();
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      return void res.end(JSON.stringify(fault.body ?? { error: { message: `mock failure ${fault.status}`, type: 'server_error' } }));
    }
    if (fault?.kind === 'delay') await sleep(fault.ms);
    const cutAfter = fault?.kind === 'cut-stream' ? fault.after : Infinity;
    const path = (req.url ?? '').split('?')[0] ?? '';
    const stream = body.stream === true || path.endsWith(':streamGenerateContent');
    const parts = words(state.reply);
    const model = String(body.model ?? path.match(/models\/([^:]+)/)?.[1] ?? 'mock-model');

    if (path.endsWith('/chat/completions')) {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            id: 'chatcmpl-mock',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: state.reply }, finish_reason: 'stop' }],
            usage,
          }),
        );
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const head = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model };
      sse(res, { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (state.chunkIntervalMs) await sleep(state.chunkIntervalMs);
        sse(res, { ...head, choices: [{ index: 0, delta: { content: parts[i] }, finish_reason: null }] });
      }
      sse(res, { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) sse(res, { ...head, choices: [], usage });
      sse(res, '[DONE]');
      return void res.end();
    }
    if (path.endsWith('/embeddings')) {
      const vector = [0.1, 0.2, 0.3];
      // The official SDK asks for base64 unless told otherwise (little-endian float32).
      const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model, usage: { prompt_tokens: 3, total_tokens: 3 } }));
    }
    if (path.endsWith('/completions')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ id: 'cmpl-mock', object: 'text_completion', created: 1, model, choices: [{ index: 0, text: state.reply, finish_reason: 'stop' }], usage }));
    }
    if (path.endsWith('/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ input_tokens: 42 }));
    }
    if (path.endsWith('/messages')) {
      const anthropicUsage = { input_tokens: 13, output_tokens: 9, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({ id: 'msg_mock', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: state.reply }], stop_reason: 'end_turn', stop_sequence: null, usage: anthropicUsage }),
        );
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sse(res, { type: 'message_start', message: { id: 'msg_mock', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...anthropicUsage, output_tokens: 1 } } }, 'message_start');
      sse(res, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start');
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (state.chunkIntervalMs) await sleep(state.chunkIntervalMs);
        sse(res, { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: parts[i] } }, 'content_block_delta');
      }
      sse(res, { type: 'content_block_stop', index: 0 }, 'content_block_stop');
      sse(res, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } }, 'message_delta');
      sse(res, { type: 'message_stop' }, 'message_stop');
      return void res.end();
    }
    if (path.includes(':generateContent') || path.includes(':streamGenerateContent')) {
      const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 };
      const candidate = (text: string, finish?: string) => ({ content: { role: 'model', parts: [{ text }] }, ...(finish ? { finishReason: finish } : {}), index: 0 });
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ candidates: [candidate(state.reply, 'STOP')], usageMetadata, modelVersion: model }));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (state.chunkIntervalMs) await sleep(state.chunkIntervalMs);
        const last = i === parts.length - 1;
        sse(res, { candidates: [candidate(parts[i]!, last ? 'STOP' : undefined)], ...(last ? { usageMetadata } : {}), modelVersion: model });
      }
      return void res.end();
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `mock has no route ${path}` } }));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const mock: MockUpstream = Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  }) as MockUpstream;
  return mock;
}
