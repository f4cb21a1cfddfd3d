import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small provider simulator for gateway tests: OpenAI (chat, completions, embeddings, responses),
 * Anthropic (messages, count_tokens) and Gemini (generateContent, streamGenerateContent) on one
 * loopback port, with scripted faults. Every request is recorded (method, path, headers, body).
 *
 * Tools: an OpenAI chat or Anthropic messages request that carries `tools` is answered with a call
 * of the first tool (arguments `toolArguments`; OpenAI `tool_calls` / Anthropic `tool_use`,
 * streamed or not), unless its last message is a tool result: then the answer is the text
 * `Tool said: <result>`, so a test can see the result made the round trip.
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
  | { kind: 'delay'; ms: number }
  /** Answers 200 with the response headers flushed, then never sends a body byte (nor ends). */
  | { kind: 'headers-then-hang' }
  /** A normal answer whose stream chunks are `intervalMs` apart (overrides `chunkIntervalMs` for this request). */
  | { kind: 'slow-stream'; intervalMs: number };

export interface MockUpstreamOptions {
  /** The server's keep-alive timeout (ms; Node's default 5 000): idle client sockets close after it. */
  keepAliveTimeoutMs?: number;
}

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
  /** JSON arguments of the tool calls the mock makes. */
  toolArguments: string;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Text of a tool result: a string, or the text parts of a content array. */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isJson(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

/** What a tool-carrying request should get: a call of `name`, or text about the tool result. */
type ToolTurn = { kind: 'call'; name: string } | { kind: 'result'; text: string } | undefined;

function openaiToolTurn(body: Json): ToolTurn {
  const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : [];
  if (tools.length === 0) return undefined;
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const last = messages[messages.length - 1];
  if (isJson(last) && last.role === 'tool') return { kind: 'result', text: resultText(last.content) };
  const first = tools[0];
  const name = isJson(first) && isJson(first.function) && typeof first.function.name === 'string' ? first.function.name : 'tool';
  return { kind: 'call', name };
}

function anthropicToolTurn(body: Json): ToolTurn {
  const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : [];
  if (tools.length === 0) return undefined;
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const last = messages[messages.length - 1];
  if (isJson(last) && last.role === 'user' && Array.isArray(last.content)) {
    const result = (last.content as unknown[]).find((block) => isJson(block) && block.type === 'tool_result');
    if (isJson(result)) return { kind: 'result', text: resultText(result.content) };
  }
  const first = tools[0];
  return { kind: 'call', name: isJson(first) && typeof first.name === 'string' ? first.name : 'tool' };
}

/** Splits a string in two (tool arguments arrive in pieces when streamed). */
const halves = (text: string): [string, string] => [text.slice(0, Math.ceil(text.length / 2)), text.slice(Math.ceil(text.length / 2))];

const words = (text: string) => text.split(/(?<= )/);

function sse(res: http.ServerResponse, data: unknown, event?: string): void {
  res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

export async function startMockUpstream(options: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const state: Pick<MockUpstream, 'requests' | 'faults' | 'reply' | 'chunkIntervalMs' | 'toolArguments'> = {
    requests: [],
    faults: [],
    reply: 'Hello from the mock upstream',
    chunkIntervalMs: 0,
    toolArguments: '{"city":"Paris"}',
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
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
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
    const chunkIntervalMs = fault?.kind === 'slow-stream' ? fault.intervalMs : state.chunkIntervalMs;
    const cutAfter = fault?.kind === 'cut-stream' ? fault.after : Infinity;
    const path = (req.url ?? '').split('?')[0] ?? '';
    const stream = body.stream === true || path.endsWith(':streamGenerateContent');
    if (fault?.kind === 'headers-then-hang') {
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
      return void res.flushHeaders();
    }
    const model = String(body.model ?? path.match(/models\/([^:]+)/)?.[1] ?? 'mock-model');
    const toolTurn = path.endsWith('/chat/completions') ? openaiToolTurn(body) : path.endsWith('/messages') ? anthropicToolTurn(body) : undefined;
    const reply = toolTurn?.kind === 'result' ? `Tool said: ${toolTurn.text}` : state.reply;
    const parts = words(reply);

    if (path.endsWith('/chat/completions') && toolTurn?.kind === 'call') {
      const call = { id: 'call_mock_1', type: 'function', function: { name: toolTurn.name, arguments: state.toolArguments } };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            id: 'chatcmpl-mock',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }],
            usage,
          }),
        );
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const head = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model };
      sse(res, { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...call, function: { name: toolTurn.name, arguments: '' } }] }, finish_reason: null }] });
      for (const piece of halves(state.toolArguments)) sse(res, { ...head, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] }, finish_reason: null }] });
      sse(res, { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
      if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) sse(res, { ...head, choices: [], usage });
      sse(res, '[DONE]');
      return void res.end();
    }
    if (path.endsWith('/chat/completions')) {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            id: 'chatcmpl-mock',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
            usage,
          }),
        );
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const head = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model };
      sse(res, { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (chunkIntervalMs) await sleep(chunkIntervalMs);
        sse(res, { ...head, choices: [{ index: 0, delta: { content: parts[i] }, finish_reason: null }] });
      }
      sse(res, { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) sse(res, { ...head, choices: [], usage });
      sse(res, '[DONE]');
      return void res.end();
    }
    if (path.endsWith('/responses')) {
      const responsesUsage = { input_tokens: 11, output_tokens: 7, total_tokens: 18, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
      const message = (text: string, status: string) => ({ id: 'msg_mock', type: 'message', role: 'assistant', status, content: [{ type: 'output_text', text, annotations: [] }] });
      const response = (status: string, output: unknown[], withUsage: boolean) => ({
        id: 'resp_mock',
        object: 'response',
        created_at: 1,
        status,
        model,
        output,
        usage: withUsage ? responsesUsage : null,
      });
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(response('completed', [message(reply, 'completed')], true)));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let seq = 0;
      const event = (type: string, data: Json) => sse(res, { type, sequence_number: seq++, ...data }, type);
      event('response.created', { response: response('in_progress', [], false) });
      event('response.output_item.added', { output_index: 0, item: { ...message('', 'in_progress'), content: [] } });
      event('response.content_part.added', { output_index: 0, item_id: 'msg_mock', content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (chunkIntervalMs) await sleep(chunkIntervalMs);
        event('response.output_text.delta', { output_index: 0, item_id: 'msg_mock', content_index: 0, delta: parts[i] });
      }
      event('response.output_text.done', { output_index: 0, item_id: 'msg_mock', content_index: 0, text: reply });
      event('response.output_item.done', { output_index: 0, item: message(reply, 'completed') });
      event('response.completed', { response: response('completed', [message(reply, 'completed')], true) });
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
    if (path.endsWith('/messages') && toolTurn?.kind === 'call') {
      const anthropicUsage = { input_tokens: 13, output_tokens: 9, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
      const block = { type: 'tool_use', id: 'toolu_mock_1', name: toolTurn.name, input: JSON.parse(state.toolArguments) as unknown };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ id: 'msg_mock', type: 'message', role: 'assistant', model, content: [block], stop_reason: 'tool_use', stop_sequence: null, usage: anthropicUsage }));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sse(res, { type: 'message_start', message: { id: 'msg_mock', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...anthropicUsage, output_tokens: 1 } } }, 'message_start');
      sse(res, { type: 'content_block_start', index: 0, content_block: { ...block, input: {} } }, 'content_block_start');
      for (const piece of halves(state.toolArguments)) sse(res, { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: piece } }, 'content_block_delta');
      sse(res, { type: 'content_block_stop', index: 0 }, 'content_block_stop');
      sse(res, { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } }, 'message_delta');
      sse(res, { type: 'message_stop' }, 'message_stop');
      return void res.end();
    }
    if (path.endsWith('/messages')) {
      const anthropicUsage = { input_tokens: 13, output_tokens: 9, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({ id: 'msg_mock', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: reply }], stop_reason: 'end_turn', stop_sequence: null, usage: anthropicUsage }),
        );
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sse(res, { type: 'message_start', message: { id: 'msg_mock', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...anthropicUsage, output_tokens: 1 } } }, 'message_start');
      sse(res, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start');
      for (let i = 0; i < parts.length; i++) {
        if (i >= cutAfter) return cut(res);
        if (chunkIntervalMs) await sleep(chunkIntervalMs);
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
        if (chunkIntervalMs) await sleep(chunkIntervalMs);
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
