import { expect } from 'chai';
import { FORWARDABLE_CLIENT_HEADERS, NEVER_FORWARDED, upstreamHeaders, type ClientHeaders } from '../../../src/gateway/providers/headers.js';
import type { Operation } from '../../../src/gateway/types.js';

describe('upstreamHeaders', () => {
  const anthropicKey = { 'x-api-key': 'sk-upstream', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const claudeCode = { authorization: 'Bearer at-upstream', 'anthropic-beta': 'oauth-2025-04-20', 'anthropic-version': '2023-06-01' };
  const openaiKey = { authorization: 'Bearer sk-upstream', 'content-type': 'application/json' };

  const cases: Array<{ name: string; adapter: Record<string, string>; client: ClientHeaders; op: Operation; expected: Record<string, string> }> = [
    {
      name: 'client credentials, cookies, host and hop-by-hop headers never pass',
      adapter: openaiKey,
      client: {
        authorization: 'Bearer client-key',
        'x-api-key': 'client-key',
        'x-goog-api-key': 'client-key',
        cookie: 'session=1',
        host: 'gateway.local',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'content-length': '42',
        te: 'trailers',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic x',
        'x-forwarded-for': '10.0.0.1',
        'user-agent': 'curl/8',
        'accept-encoding': 'gzip',
      },
      op: 'chat',
      expected: openaiKey,
    },
    {
      name: 'OpenAI org/project headers are not forwarded',
      adapter: openaiKey,
      client: { 'openai-organization': 'org-client', 'openai-project': 'proj-client', 'openai-beta': 'assistants=v2' },
      op: 'chat',
      expected: openaiKey,
    },
    {
      name: 'anthropic-beta is forwarded on messages',
      adapter: anthropicKey,
      client: { 'anthropic-beta': 'interleaved-thinking-2025-05-14, context-1m-2025-08-07', 'anthropic-version': '2023-01-01' },
      op: 'messages',
      expected: { ...anthropicKey, 'anthropic-beta': 'interleaved-thinking-2025-05-14,context-1m-2025-08-07' },
    },
    {
      name: 'anthropic-beta is forwarded on count_tokens, repeated headers joined',
      adapter: anthropicKey,
      client: { 'anthropic-beta': ['token-counting-2024-11-01', 'token-counting-2024-11-01'] },
      op: 'count_tokens',
      expected: { ...anthropicKey, 'anthropic-beta': 'token-counting-2024-11-01' },
    },
    {
      name: "claude-code's OAuth beta stays first, client flags merged and deduplicated",
      adapter: claudeCode,
      client: { 'anthropic-beta': 'oauth-2025-04-20,claude-code-20250219' },
      op: 'messages',
      expected: { ...claudeCode, 'anthropic-beta': 'oauth-2025-04-20,claude-code-20250219' },
    },
    {
      name: 'malformed beta tokens are dropped',
      adapter: anthropicKey,
      client: { 'anthropic-beta': 'good-1, bad token, ;x=1, , also_good.2' },
      op: 'messages',
      expected: { ...anthropicKey, 'anthropic-beta': 'good-1,also_good.2' },
    },
    {
      name: 'an all-invalid beta list adds nothing',
      adapter: anthropicKey,
      client: { 'anthropic-beta': ' , ' },
      op: 'messages',
      expected: anthropicKey,
    },
    {
      name: 'anthropic-beta is not forwarded to a non-Anthropic operation',
      adapter: openaiKey,
      client: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' },
      op: 'chat',
      expected: openaiKey,
    },
    {
      name: 'a header the client names in Connection is hop-by-hop',
      adapter: anthropicKey,
      client: { connection: 'close, Anthropic-Beta', 'anthropic-beta': 'x-1' },
      op: 'messages',
      expected: anthropicKey,
    },
    {
      name: 'client header names in other casings are folded',
      adapter: anthropicKey,
      client: { 'Anthropic-Beta': 'x-1', Authorization: 'Bearer client' },
      op: 'messages',
      expected: { ...anthropicKey, 'anthropic-beta': 'x-1' },
    },
    {
      name: 'adapter header names are lower-cased; undefined client values skipped',
      adapter: { 'X-Goog-Api-Key': 'k', 'Content-Type': 'application/json' },
      client: { 'anthropic-beta': undefined },
      op: 'generate_content',
      expected: { 'x-goog-api-key': 'k', 'content-type': 'application/json' },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(upstreamHeaders(c.adapter, c.client, c.op)).to.deep.equal(c.expected);
    });
  }

  it('header names that are Object.prototype keys are ignored, not crashed on', () => {
    const client: ClientHeaders = Object.fromEntries([
      ['constructor', 'x'],
      ['__proto__', 'y'],
      ['toString', 'z'],
      ['hasOwnProperty', 'w'],
      ['anthropic-beta', 'x-1'],
    ]);
    expect(upstreamHeaders(anthropicKey, client, 'messages')).to.deep.equal({ ...anthropicKey, 'anthropic-beta': 'x-1' });
  });

  it('never forwards a client credential for any operation', () => {
    const client: ClientHeaders = { authorization: 'Bearer client-secret', 'x-api-key': 'client-secret', 'x-goog-api-key': 'client-secret', cookie: 'client-secret' };
    const ops: Operation[] = ['chat', 'completions', 'embeddings', 'responses', 'messages', 'count_tokens', 'generate_content', 'stream_generate_content'];
    for (const op of ops) {
      expect(JSON.stringify(upstreamHeaders({}, client, op))).to.not.include('client-secret');
    }
  });

  it('the allow-list is lower-case and disjoint from the never-forwarded set', () => {
    for (const name of Object.keys(FORWARDABLE_CLIENT_HEADERS)) {
      expect(name).to.equal(name.toLowerCase());
      expect(NEVER_FORWARDED.has(name)).to.equal(false);
    }
  });

  it('does not modify its inputs', () => {
    const adapter = { ...claudeCode };
    const client = { 'anthropic-beta': 'x-1' };
    upstreamHeaders(adapter, client, 'messages');
    expect(adapter).to.deep.equal(claudeCode);
    expect(client).to.deep.equal({ 'anthropic-beta': 'x-1' });
  });
});
