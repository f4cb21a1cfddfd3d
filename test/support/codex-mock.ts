import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { publish, seedGroup, seedKey, seedMaster } from './gateway-fixtures.js';
import { resetDatabase, testEnv } from './hooks.js';
import { startTestGateway, stopTestGateway } from './test-gateway.js';

/**
 * A mock ChatGPT Codex backend on 127.0.0.1 (provider type `codex`): `POST …/responses` always
 * answers with an SSE stream, the way the backend does with `store: false` — items streamed in
 * `response.output_item.added` / deltas / `response.output_item.done`, then a terminal event whose
 * `output` is empty. Each event is written in two halves, so the gateway must reassemble events cut
 * anywhere. Shared by the Codex gateway tests (test/gateway/codex-*.test.ts).
 *
 * Scenarios: `answer` (text, then a get_weather function call split over two argument deltas,
 * then response.completed with usage), `incomplete` (text, then response.incomplete for
 * max_output_tokens), `error` (text, then an `error` event), `cut` (text, then a clean end without
 * a terminal event), `hang` (text, then nothing until the client goes away).
 */

export type CodexScenario = 'answer' | 'incomplete' | 'error' | 'cut' | 'hang';

export interface CodexMockRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
  /** Resolves when the gateway closed (or finished) this upstream response. */
  closed: Promise<void>;
}

export interface CodexMock {
  url: string;
  scenario: CodexScenario;
  requests: CodexMockRequest[];
  close(): Promise<void>;
}

export const CODEX_USAGE = { input_tokens: 21, input_tokens_details: { cached_tokens: 5 }, output_tokens: 13, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 34 };
export const CODEX_TEXT = 'Checking the weather in Paris.';
export const CODEX_ARGS = '{"city":"Paris","unit":"celsius"}';
export const CODEX_ERROR_MESSAGE = 'Codex backend exploded';

export async function startCodexMock(): Promise<CodexMock> {
  const sockets = new Set<Socket>();
  const state: Pick<CodexMock, 'scenario' | 'requests'> = { scenario: 'answer', requests: [] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
      state.requests.push({ path: req.url ?? '', headers: req.headers, json, closed });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let seq = 0;
      const send = (type: string, data: Record<string, unknown>) => {
        const text = `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
        const cut = Math.floor(text.length / 2);
        res.write(text.slice(0, cut));
        res.write(text.slice(cut));
      };
      const response = (status: string, usage: unknown, extra: Record<string, unknown> = {}) => ({
        id: 'resp_codex_1',
        object: 'response',
        created_at: 1_760_000_000,
        status,
        model: json.model,
        output: [],
        usage,
        store: false,
        ...extra,
      });
      const message = { id: 'msg_codex_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: CODEX_TEXT, annotations: [] }] };
      const call = { id: 'fc_codex_1', type: 'function_call', status: 'completed', call_id: 'call_codex_1', name: 'get_weather', arguments: CODEX_ARGS };

      send('response.created', { response: response('in_progress', null) });
      send('response.output_item.added', { output_index: 0, item: { ...message, status: 'in_progress', content: [] } });
      for (const piece of ['Checking the ', 'weather ', 'in Paris.']) send('response.output_text.delta', { item_id: 'msg_codex_1', output_index: 0, content_index: 0, delta: piece });
      if (state.scenario === 'hang') return; // never ends: only the client's disconnect can stop it
      if (state.scenario === 'error') {
        send('error', { code: 'server_error', message: CODEX_ERROR_MESSAGE, param: null });
        return void res.end();
      }
      if (state.scenario === 'cut') return void res.end(); // ends cleanly, without a terminal event
      send('response.output_item.done', { output_index: 0, item: message });
      if (state.scenario === 'incomplete') {
        send('response.incomplete', { response: response('incomplete', CODEX_USAGE, { incomplete_details: { reason: 'max_output_tokens' } }) });
        return void res.end();
      }
      send('response.output_item.added', { output_index: 1, item: { ...call, status: 'in_progress', arguments: '' } });
      send('response.function_call_arguments.delta', { item_id: 'fc_codex_1', output_index: 1, delta: CODEX_ARGS.slice(0, 10) });
      send('response.function_call_arguments.delta', { item_id: 'fc_codex_1', output_index: 1, delta: CODEX_ARGS.slice(10) });
      send('response.output_item.done', { output_index: 1, item: call });
      send('response.completed', { response: response('completed', CODEX_USAGE) });
      res.end();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A gateway over the test Redis with one Codex group on a fresh mock, and a client key (docs/gateway.md). */
export interface CodexGateway {
  mock: CodexMock;
  redis: Redis;
  gateway: RunningServer;
  queues: QueueSet;
  clientKey: string;
  close(): Promise<void>;
}

/** Resets PostgreSQL and Redis, seeds a master, a child key and a Codex group (model `gpt-5-codex`), and starts a gateway. */
export async function startCodexGateway(label: string, accessToken: string): Promise<CodexGateway> {
  await resetDatabase();
  const mock = await startCodexMock();
  const redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', `${label}-test`);
  await waitForRedis(redis);
  await redis.flushdb();
  const masterId = await seedMaster(`${label}-user`);
  const clientKey = (await seedKey(masterId, `ezk_${label}-client-${'0'.repeat(20)}`)).key;
  await seedGroup({ name: 'cx', type: 'codex', base_url: `${mock.url}/backend-api/codex`, models: ['gpt-5-codex'], keys: [accessToken] });
  await publish(redis);
  const { gateway, queues } = await startTestGateway(redis, `ez-${label}-${randomUUID().slice(0, 8)}`, ['logs']);
  return {
    mock,
    redis,
    gateway,
    queues,
    clientKey,
    async close() {
      await stopTestGateway(gateway, queues);
      await mock.close();
      await closeRedis(redis);
    },
  };
}
