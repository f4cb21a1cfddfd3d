import { expect } from 'chai';
import { formatSse } from '../../../src/gateway/sse.js';
import { createOpenaiUsageStripper, ensureIncludeUsage } from '../../../src/gateway/translate/openai-passthrough.js';
import { estimateTokens } from '../../../src/gateway/translate/usage.js';
import { fixture, parseChunked } from './replay.js';

describe('OpenAI pass-through helpers', () => {
  describe(ensureIncludeUsage.name, () => {
    const cases = [
      { name: 'a stream without stream_options', body: { stream: true }, out: { stream: true, stream_options: { include_usage: true } }, wants: false },
      {
        name: 'a stream with other stream options',
        body: { stream: true, stream_options: { include_obfuscation: false } },
        out: { stream: true, stream_options: { include_obfuscation: false, include_usage: true } },
        wants: false,
      },
      { name: 'a stream that asked for usage', body: { stream: true, stream_options: { include_usage: true } }, out: { stream: true, stream_options: { include_usage: true } }, wants: true },
      { name: 'a stream that refused usage', body: { stream: true, stream_options: { include_usage: false } }, out: { stream: true, stream_options: { include_usage: true } }, wants: false },
      { name: 'a non-stream request', body: { stream: false }, out: { stream: false }, wants: false },
      { name: 'no stream flag', body: {}, out: {}, wants: false },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const before = JSON.stringify(c.body);
        const r = ensureIncludeUsage(c.body);
        expect(r).to.deep.equal({ body: c.out, clientWantsUsage: c.wants });
        expect(JSON.stringify(c.body), 'input is not mutated').to.equal(before);
      });
    }
  });

  describe(createOpenaiUsageStripper.name, () => {
    const events = parseChunked(fixture('openai', 'text.sse'), 11);
    const run = (wants: boolean) => {
      const t = createOpenaiUsageStripper(wants);
      const out = events.map((e) => t.push(e)).join('') + t.end();
      return { t, out };
    };

    it('forwards every event unchanged when the client asked for usage', () => {
      const { t, out } = run(true);
      expect(out).to.equal(events.map(formatSse).join(''));
      expect(out).to.equal(fixture('openai', 'text.sse').toString('utf8'));
      expect(t.usage()).to.deep.equal({ prompt_tokens: 1117, completion_tokens: 15, cache_read_tokens: 1024, cache_write_tokens: 0 });
    });

    it('drops only the usage chunk when the client did not ask, still reporting usage', () => {
      const { t, out } = run(false);
      const kept = events.filter((e) => !e.data.includes('"choices":[]'));
      expect(kept).to.have.length(events.length - 1);
      expect(out).to.equal(kept.map(formatSse).join(''));
      expect(out.endsWith('data: [DONE]\n\n')).to.equal(true);
      expect(t.usage()).to.deep.include({ prompt_tokens: 1117, completion_tokens: 15 });
      expect(t.deliveredText()).to.equal('Héllo, 世界! How can I help? 👋');
    });

    it('keeps a chunk that carries both choices and usage', () => {
      const t = createOpenaiUsageStripper(false);
      const e = { data: '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}' };
      expect(t.push(e)).to.equal(formatSse(e));
      expect(t.usage()).to.deep.equal({ prompt_tokens: 3, completion_tokens: 4, cache_read_tokens: 0, cache_write_tokens: 0 });
    });

    it('fails with an OpenAI error event once', () => {
      const t = createOpenaiUsageStripper(false);
      expect(t.fail('boom')).to.equal('data: {"error":{"message":"boom","type":"server_error","param":null,"code":"upstream_error"}}\n\n');
      expect(t.fail('again')).to.equal('');
      expect(t.push({ data: '[DONE]' })).to.equal('');
    });
  });

  describe(estimateTokens.name, () => {
    const cases: Array<[string, number]> = [
      ['', 0],
      ['a', 1],
      ['abcd', 1],
      ['abcde', 2],
      ['Hello, world!', 4],
      ['世界', 2],
      ['héllo', 2],
      ['👋👋', 2],
      ['hi 世界', 3],
      ['x'.repeat(4000), 1000],
    ];
    for (const [text, tokens] of cases) it(`${JSON.stringify(text.length > 20 ? `${text.slice(0, 8)}…(${text.length})` : text)} → ${tokens}`, () => expect(estimateTokens(text)).to.equal(tokens));
  });
});
