import { expect } from 'chai';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { CODEX_TEXT as TEXT, startCodexGateway, type CodexGateway, type CodexMock } from '../support/codex-mock.js';
import { queuedLogRecord } from '../support/test-gateway.js';
import { until } from '../support/until.js';

/**
 * A Codex upstream (which only ever streams) serving a client that did not ask to stream
 * (docs/gateway.md "Always-streaming upstreams"): the gateway reads the SSE through the streaming
 * translator and answers one JSON body in the client's format. The mock streams the way the
 * ChatGPT backend does with `store: false`: items in `response.output_item.done`, then a
 * `response.completed` whose `output` is empty.
 */

describe('Codex upstream, non-stream clients', function () {
  this.timeout(30_000);
  let mock: CodexMock;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const ACCESS_TOKEN = 'codex-access-token-0000000000000000';

  let rig: CodexGateway | undefined;

  before(async () => {
    rig = await startCodexGateway('codex-non-stream', ACCESS_TOKEN);
    ({ mock, gateway, queues, clientKey } = rig);
  });

  after(async () => rig?.close());

  beforeEach(() => {
    mock.requests.length = 0;
    mock.scenario = 'answer';
  });

  const openai = () => new OpenAI({ apiKey: clientKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const logRecord = (requestId: string) => queuedLogRecord(queues, requestId);

  it('answers responses.create without stream with one whole response: text, tool call and usage', async () => {
    const requestId = `codex-ok-${randomUUID()}`;
    const response = await openai().responses.create({ model: 'gpt-5-codex', input: 'weather in Paris?' }, { headers: { 'x-request-id': requestId } });

    expect(response).to.include({ id: 'resp_codex_1', object: 'response', status: 'completed' });
    expect(response.output_text).to.equal(TEXT);
    expect(response.output.map((item) => item.type)).to.deep.equal(['message', 'function_call']);
    const call = response.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).to.include({ name: 'get_weather', call_id: 'call_codex_1' });
    expect(JSON.parse(call.arguments)).to.deep.equal({ city: 'Paris', unit: 'celsius' });
    expect(response.usage).to.deep.include({ input_tokens: 21, output_tokens: 13, total_tokens: 34 });

    // The upstream was asked to stream (Codex only streams), with the client's key never sent on.
    const seen = mock.requests[0]!;
    expect(seen.path).to.equal('/backend-api/codex/responses');
    expect(seen.json).to.include({ model: 'gpt-5-codex', stream: true, store: false });
    expect(seen.headers.authorization).to.equal(`Bearer ${ACCESS_TOKEN}`);
    expect(JSON.stringify(seen.headers)).to.not.include(clientKey);

    const record = await logRecord(requestId);
    expect(record).to.include({ status_code: 200, stream: false, format_in: 'openai', usage_source: 'upstream', prompt_tokens: 21, completion_tokens: 13, cache_read_tokens: 5, error_code: null });
  });

  it('an error event mid-stream fails the request with 502 and the upstream message, not a half answer', async () => {
    mock.scenario = 'error';
    const requestId = `codex-error-${randomUUID()}`;
    let caught: unknown;
    try {
      await openai().responses.create({ model: 'gpt-5-codex', input: 'hi' }, { headers: { 'x-request-id': requestId } });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OpenAI.APIError);
    const error = caught as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).to.equal(502);
    expect(error.message).to.include('Codex backend exploded');
    const record = await logRecord(requestId);
    expect(record).to.include({ status_code: 502, error_code: 'upstream_error', prompt_tokens: 0, completion_tokens: 0 });
  });

  it('a stream that ends before response.completed is a 502, not a half answer', async () => {
    mock.scenario = 'cut';
    const res = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}` },
      body: JSON.stringify({ model: 'gpt-5-codex', input: 'hi' }),
    });
    expect(res.status).to.equal(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.message).to.match(/ended before the answer was complete/);
    expect(JSON.stringify(body)).to.not.include('Checking the');
  });

  it('a client that leaves while the stream is being aggregated aborts the upstream', async () => {
    mock.scenario = 'hang';
    const requestId = `codex-leave-${randomUUID()}`;
    const controller = new AbortController();
    const pending = fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId },
      body: JSON.stringify({ model: 'gpt-5-codex', input: 'hi' }),
    }).catch((err: unknown) => err);
    const seen = await until(async () => mock.requests[0]);
    controller.abort();
    expect(await pending).to.be.instanceOf(Error);
    const closedInTime = await Promise.race([seen.closed.then(() => true), sleep(5_000).then(() => false)]);
    expect(closedInTime, 'the upstream connection was closed').to.equal(true);
    const record = await logRecord(requestId);
    expect(record).to.include({ status_code: 499, abort_reason: 'client_disconnected', prompt_tokens: 0, completion_tokens: 0 });
  });
});
