import { expect } from 'chai';
import { GatewayError } from '../../../src/gateway/errors.js';
import { bridgeFor, responsesBody, responsesPassthroughStream } from '../../../src/gateway/proxy/bridges.js';
import type { BridgeRequest } from '../../../src/gateway/proxy/bridge.js';

const request = (body: Record<string, unknown>, upstreamModel = 'gpt-4.1'): BridgeRequest => {
  const raw = Buffer.from(JSON.stringify(body));
  return { body, raw, publicModel: String(body.model), upstreamModel, stream: body.stream === true };
};

describe('the responses bridge', () => {
  it('is the one used for OpenAI responses clients on an OpenAI upstream', () => {
    expect(bridgeFor('responses', 'openai', 'openai', {})?.requestBody).to.equal(responsesBody);
  });

  it("forwards the client's bytes untouched when nothing is dropped and the model is unchanged", () => {
    const r = request({ model: 'gpt-4.1', input: 'hi', stream: true });
    expect(responsesBody(r)).to.equal(r.raw);
  });

  it('drops unknown fields and rewrites the model', () => {
    expect(JSON.parse(String(responsesBody(request({ model: 'public', input: 'hi', store: false, service_tier: 'flex' }))))).to.deep.equal({ model: 'gpt-4.1', input: 'hi' });
  });

  it('refuses a refused field with a 400 naming it', () => {
    try {
      responsesBody(request({ model: 'gpt-4.1', input: 'hi', previous_response_id: 'resp_1' }));
      expect.fail('should refuse');
    } catch (err) {
      expect(err).to.be.instanceOf(GatewayError);
      expect(err).to.include({ status: 400, code: 'invalid_request', param: 'previous_response_id', message: 'unsupported field "previous_response_id"' });
    }
  });

  it('reads usage from response.completed and the delivered text from the deltas', () => {
    const sut = responsesPassthroughStream();
    const events = [
      { event: 'response.created', data: JSON.stringify({ type: 'response.created', response: { id: 'r', usage: null } }) },
      { event: 'response.output_text.delta', data: JSON.stringify({ type: 'response.output_text.delta', delta: 'Hel' }) },
      { event: 'response.output_text.delta', data: JSON.stringify({ type: 'response.output_text.delta', delta: 'lo' }) },
      { event: 'response.completed', data: JSON.stringify({ type: 'response.completed', response: { id: 'r', usage: { input_tokens: 11, output_tokens: 7, input_tokens_details: { cached_tokens: 2 } } } }) },
    ];
    const out = events.map((e) => sut.push(e)).join('');
    expect(out).to.include('event: response.completed\n');
    expect(sut.usage()).to.deep.equal({ prompt_tokens: 11, completion_tokens: 7, cache_read_tokens: 2, cache_write_tokens: 0 });
    expect(sut.deliveredText()).to.equal('Hello');
    expect(sut.fail('boom')).to.match(/^event: error\ndata: .*"message":"boom"/);
  });
});
