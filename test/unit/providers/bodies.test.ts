import { expect } from 'chai';
import { adapterFor } from '../../../src/gateway/providers/registry.js';
import { chatgptAccountId } from '../../../src/gateway/providers/codex/adapter.js';
import { CODEX_TOKEN, jwt, snapshot } from './fixtures.js';

describe('provider adapters: body envelopes', () => {
  const geminiBody = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { temperature: 0.2 } };

  it('adapters that speak their dialect plainly define no envelope', () => {
    for (const type of ['openai', 'compatible', 'anthropic', 'claude', 'claude-code', 'gemini', 'google', 'aistudio', 'vertex', 'vertex-express']) {
      const adapter = adapterFor(type)!;
      expect(adapter.wrapBody, type).to.equal(undefined);
      expect(adapter.unwrapEvent, type).to.equal(undefined);
      expect(adapter.alwaysStreams, type).to.equal(false);
    }
  });

  it('gemini-cli wraps the Gemini request as {model, project, user_prompt_id, request}', () => {
    const provider = snapshot('gemini-cli', { google_project: ' proj-1 ' });
    const wrapped = adapterFor('gemini-cli')!.wrapBody!(geminiBody, { op: 'stream_generate_content', provider, upstreamModel: 'models/gemini-2.5-pro', stream: true, requestId: 'req-1' });
    expect(wrapped).to.deep.equal({ model: 'gemini-2.5-pro', project: 'proj-1', user_prompt_id: 'req-1', request: geminiBody });
  });

  it('antigravity wraps with its user agent and request id', () => {
    const provider = snapshot('antigravity', { google_project: 'proj-2' });
    const wrapped = adapterFor('antigravity')!.wrapBody!(geminiBody, { op: 'generate_content', provider, upstreamModel: 'claude-sonnet-4-5', stream: false, requestId: 'req-2' });
    expect(wrapped).to.deep.equal({ project: 'proj-2', model: 'claude-sonnet-4-5', userAgent: 'antigravity', requestId: 'agent-req-2', request: geminiBody });
  });

  it('Code Assist responses are unwrapped from {response}', () => {
    const unwrap = adapterFor('gemini-cli')!.unwrapEvent!;
    const inner = { candidates: [{ content: { parts: [{ text: 'hello' }] } }], usageMetadata: { promptTokenCount: 3 } };
    expect(unwrap({ response: inner, traceId: 't-1' })).to.equal(inner);
    // Anything else (an error body, an unexpected shape) passes through untouched.
    const error = { error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } };
    expect(unwrap(error)).to.equal(error);
    expect(unwrap({ response: 'text' })).to.deep.equal({ response: 'text' });
  });

  it('codex forces stream and store:false and drops the output caps it rejects', () => {
    const adapter = adapterFor('codex')!;
    expect(adapter.alwaysStreams).to.equal(true);
    const body = { model: 'gpt-5-codex', input: 'hi', instructions: 'be brief', stream: false, store: true, max_output_tokens: 512, max_completion_tokens: 9, temperature: 1 };
    const wrapped = adapter.wrapBody!(body, { op: 'responses', provider: snapshot('codex', { api_key: CODEX_TOKEN }), upstreamModel: 'gpt-5-codex', stream: false, requestId: 'r' });
    expect(wrapped).to.deep.equal({ model: 'gpt-5-codex', input: 'hi', instructions: 'be brief', stream: true, store: false, temperature: 1 });
    expect(body.max_output_tokens, 'input not mutated').to.equal(512);
  });

  it('reads the ChatGPT account id from the token claims only', () => {
    expect(chatgptAccountId(CODEX_TOKEN)).to.equal('acct-1234');
    expect(chatgptAccountId(jwt({ 'https://api.openai.com/auth': { chatgpt_account_id: 42 } }))).to.equal(null);
    expect(chatgptAccountId(jwt({ chatgpt_account_id: 'top-level-ignored' }))).to.equal(null);
    expect(chatgptAccountId(jwt({ 'https://api.openai.com/auth': { chatgpt_account_id: 'bad\r\nvalue' } }))).to.equal(null);
    expect(chatgptAccountId('not-a-jwt')).to.equal(null);
    expect(chatgptAccountId('a.bm90LWpzb24.c')).to.equal(null);
  });
});
