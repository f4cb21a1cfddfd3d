import { expect } from 'chai';
import {
  createAnthropicToOpenaiStream,
  initialAnthropicToOpenaiState,
  parseAnthropicEvent,
  stepAnthropicToOpenai,
} from '../../../src/gateway/translate/anthropic-to-openai.stream.js';
import { createGeminiToOpenaiStream } from '../../../src/gateway/translate/gemini-to-openai.stream.js';
import { createOpenaiToAnthropicStream } from '../../../src/gateway/translate/openai-to-anthropic.stream.js';
import type { StreamTranslator, Usage } from '../../../src/gateway/types.js';
import { fixture, fixtureJson, frames, parseChunked, replay, type ParsedFrame } from './replay.js';

type Provider = 'openai' | 'anthropic' | 'gemini';
const head = { id: 'chatcmpl-test', created: 1700000000, model: 'client-model' };
const SEEDS = [1, 2, 3, 17, 42, 99, 1234];

interface Case {
  provider: Provider;
  fixture: string;
  expected: string;
  make: () => StreamTranslator;
  usage: Usage | undefined;
  text: string;
}

const cases: Case[] = [
  {
    provider: 'anthropic',
    fixture: 'text',
    expected: 'text.to-openai.json',
    make: () => createAnthropicToOpenaiStream({ ...head, includeUsage: true }),
    usage: { prompt_tokens: 1056, completion_tokens: 15, cache_read_tokens: 1024, cache_write_tokens: 20 },
    text: 'Héllo, 世界! How can I help? 👋',
  },
  {
    provider: 'anthropic',
    fixture: 'tool-call',
    expected: 'tool-call.to-openai.json',
    make: () => createAnthropicToOpenaiStream({ ...head, includeUsage: true }),
    usage: { prompt_tokens: 472, completion_tokens: 89, cache_read_tokens: 0, cache_write_tokens: 0 },
    text: 'Okay, let me check the weather for San Francisco, CA:get_weather{"location": "San Francisco, CA", "unit": "fahrenheit"}',
  },
  {
    provider: 'anthropic',
    fixture: 'error',
    expected: 'error.to-openai.json',
    make: () => createAnthropicToOpenaiStream({ ...head, includeUsage: true }),
    usage: undefined,
    text: 'Partial answer',
  },
  {
    provider: 'openai',
    fixture: 'text',
    expected: 'text.to-anthropic.json',
    make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }),
    usage: { prompt_tokens: 1117, completion_tokens: 15, cache_read_tokens: 1024, cache_write_tokens: 0 },
    text: 'Héllo, 世界! How can I help? 👋',
  },
  {
    provider: 'openai',
    fixture: 'tool-call',
    expected: 'tool-call.to-anthropic.json',
    make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }),
    usage: { prompt_tokens: 82, completion_tokens: 37, cache_read_tokens: 0, cache_write_tokens: 0 },
    text: 'get_weather{"location": "Paris"}get_time{"tz": "Europe/Paris"}',
  },
  {
    provider: 'openai',
    fixture: 'error',
    expected: 'error.to-anthropic.json',
    make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }),
    usage: undefined,
    text: 'Partial answer',
  },
  {
    provider: 'gemini',
    fixture: 'text',
    expected: 'text.to-openai.json',
    make: () => createGeminiToOpenaiStream({ ...head, includeUsage: true }),
    usage: { prompt_tokens: 1117, completion_tokens: 31, cache_read_tokens: 1024, cache_write_tokens: 0 },
    text: 'Héllo, 世界! How can I help? 👋',
  },
  {
    provider: 'gemini',
    fixture: 'tool-call',
    expected: 'tool-call.to-openai.json',
    make: () => createGeminiToOpenaiStream({ ...head, includeUsage: true }),
    usage: { prompt_tokens: 82, completion_tokens: 24, cache_read_tokens: 0, cache_write_tokens: 0 },
    text: 'get_weather{"location":"Paris","unit":"celsius"}get_time{"tz":"Europe/Paris"}',
  },
  {
    provider: 'gemini',
    fixture: 'error',
    expected: 'error.to-openai.json',
    make: () => createGeminiToOpenaiStream({ ...head, includeUsage: true }),
    usage: { prompt_tokens: 25, completion_tokens: 2, cache_read_tokens: 0, cache_write_tokens: 0 },
    text: 'Partial answer',
  },
];

/** Text deltas of an OpenAI chunk stream, concatenated. */
function openaiContent(fs: ParsedFrame[]): string {
  return fs
    .map((f) => (f.data as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? '')
    .join('');
}

describe('stream translation (recorded fixtures)', () => {
  for (const c of cases) {
    describe(`${c.provider}/${c.fixture}.sse → ${c.expected}`, () => {
      const expected = fixtureJson<ParsedFrame[]>(c.provider, c.expected);
      for (const seed of SEEDS) {
        it(`gives the expected events with random chunking (seed ${seed})`, () => {
          expect(frames(replay(fixture(c.provider, `${c.fixture}.sse`), c.make(), seed))).to.deep.equal(expected);
        });
      }
      it('reports upstream usage and the delivered text', () => {
        const t = c.make();
        replay(fixture(c.provider, `${c.fixture}.sse`), t, 5);
        expect(t.usage()).to.deep.equal(c.usage);
        expect(t.deliveredText()).to.equal(c.text);
      });
      it('writes nothing after the stream is over', () => {
        const t = c.make();
        replay(fixture(c.provider, `${c.fixture}.sse`), t, 5);
        expect(t.end()).to.equal('');
        expect(t.fail('late')).to.equal('');
      });
    });
  }

  describe('line endings and purity', () => {
    it('gives the same output for CRLF-framed upstream streams', () => {
      const crlf = Buffer.from(fixture('anthropic', 'tool-call.sse').toString('utf8').replace(/\n/g, '\r\n'));
      expect(frames(replay(crlf, createAnthropicToOpenaiStream({ ...head, includeUsage: true }), 9))).to.deep.equal(
        fixtureJson<ParsedFrame[]>('anthropic', 'tool-call.to-openai.json'),
      );
    });

    it('step functions never mutate the state they are given', () => {
      const deepFreeze = <T>(o: T): T => {
        if (typeof o === 'object' && o !== null) for (const v of Object.values(o)) deepFreeze(v);
        return Object.freeze(o);
      };
      const opts = { ...head, includeUsage: true };
      let state = deepFreeze({ ...initialAnthropicToOpenaiState });
      for (const e of parseChunked(fixture('anthropic', 'tool-call.sse'), 2)) {
        const event = parseAnthropicEvent(e);
        if (event) state = deepFreeze(stepAnthropicToOpenai(state, event, opts).state);
      }
      expect(state.done).to.equal(true);
      expect(state.toolCount).to.equal(1);
    });
  });

  describe('OpenAI-format output', () => {
    it('maps Anthropic error types to OpenAI ones', () => {
      const cases: Array<[string, string]> = [
        ['overloaded_error', 'server_error'],
        ['api_error', 'server_error'],
        ['rate_limit_error', 'rate_limit_error'],
        ['invalid_request_error', 'invalid_request_error'],
      ];
      for (const [anthropic, openai] of cases) {
        const t = createAnthropicToOpenaiStream({ ...head, includeUsage: false });
        const out = frames(t.push({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: anthropic, message: 'x' } }) }));
        expect(out[0]?.data, anthropic).to.have.nested.property('error.type', openai);
      }
    });

    it('omits the usage chunk unless the client asked for it', () => {
      const out = frames(replay(fixture('anthropic', 'text.sse'), createAnthropicToOpenaiStream({ ...head, includeUsage: false }), 3));
      expect(out.some((f) => typeof f.data === 'object' && f.data !== null && 'usage' in f.data)).to.equal(false);
      expect(out.at(-1)).to.deep.equal({ data: '[DONE]' });
      const g = frames(replay(fixture('gemini', 'text.sse'), createGeminiToOpenaiStream({ ...head, includeUsage: false }), 3));
      expect(g.filter((f) => (f.data as { choices?: unknown[] }).choices?.length === 0)).to.deep.equal([]);
    });

    it('delivers the same text as the upstream sent', () => {
      const out = frames(replay(fixture('anthropic', 'text.sse'), createAnthropicToOpenaiStream({ ...head, includeUsage: false }), 8));
      expect(openaiContent(out)).to.equal('Héllo, 世界! How can I help? 👋');
    });

    it('turns fail() into an OpenAI error event and then stays silent', () => {
      const t = createAnthropicToOpenaiStream({ ...head, includeUsage: true });
      expect(frames(t.fail('upstream idle timeout'))).to.deep.equal([
        { data: { error: { message: 'upstream idle timeout', type: 'server_error', param: null, code: 'upstream_error' } } },
      ]);
      expect(t.push({ event: 'message_stop', data: '{"type":"message_stop"}' })).to.equal('');
      expect(t.end()).to.equal('');
    });

    it('reports a stream cut before message_delta as an error, without usage', () => {
      const bytes = fixture('anthropic', 'text.sse').toString('utf8');
      const cut = Buffer.from(bytes.slice(0, bytes.indexOf('event: message_delta')));
      const t = createAnthropicToOpenaiStream({ ...head, includeUsage: true });
      const out = frames(replay(cut, t, 4));
      expect(out.at(-1)?.data).to.have.nested.property('error.message').that.matches(/ended before/);
      expect(t.usage()).to.equal(undefined);
      expect(t.deliveredText()).to.equal('Héllo, 世界! How can I help? 👋');
    });

    it('closes cleanly when message_stop is missing but the stop reason arrived', () => {
      const bytes = fixture('anthropic', 'text.sse').toString('utf8');
      const cut = Buffer.from(bytes.slice(0, bytes.indexOf('event: message_stop')));
      const out = frames(replay(cut, createAnthropicToOpenaiStream({ ...head, includeUsage: true }), 4));
      expect(out.slice(-2).map((f) => f.data)).to.deep.equal([
        { ...head, object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 1056, completion_tokens: 15, total_tokens: 1071, prompt_tokens_details: { cached_tokens: 1024 } } },
        '[DONE]',
      ]);
    });

    it('reports a Gemini stream that ends without finishReason as an error', () => {
      const t = createGeminiToOpenaiStream({ ...head, includeUsage: true });
      t.push({ data: '{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]}' });
      expect(frames(t.end()).at(-1)?.data).to.have.nested.property('error.message').that.matches(/ended before/);
    });

    it('reports a malformed upstream event as an error', () => {
      const t = createGeminiToOpenaiStream({ ...head, includeUsage: true });
      expect(frames(t.push({ data: '{not json' }))[0]?.data).to.have.nested.property('error.code', 'upstream_error');
    });
  });

  describe('Anthropic-format output', () => {
    it('turns fail() into an Anthropic error event', () => {
      const t = createOpenaiToAnthropicStream({ model: 'm', id: 'msg_1' });
      expect(frames(t.fail('upstream idle timeout'))).to.deep.equal([
        { event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'upstream idle timeout' } } },
      ]);
    });

    it('closes on end() when the upstream finished without [DONE]', () => {
      const bytes = fixture('openai', 'text.sse').toString('utf8');
      const cut = Buffer.from(bytes.slice(0, bytes.indexOf('data: [DONE]')));
      expect(frames(replay(cut, createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }), 6))).to.deep.equal(
        fixtureJson<ParsedFrame[]>('openai', 'text.to-anthropic.json'),
      );
    });

    it('reports an OpenAI stream cut before finish_reason as an error', () => {
      const bytes = fixture('openai', 'text.sse').toString('utf8');
      const cut = Buffer.from(bytes.slice(0, bytes.indexOf('"finish_reason":"stop"') - 200));
      const out = frames(replay(cut, createOpenaiToAnthropicStream({ model: 'm', id: 'msg_1' }), 6));
      expect(out.at(-1)).to.have.property('event', 'error');
    });

    it('still sends a well-formed empty message for a bare [DONE]', () => {
      const out = frames(createOpenaiToAnthropicStream({ model: 'm', id: 'msg_1' }).push({ data: '[DONE]' }));
      expect(out.map((f) => f.event)).to.deep.equal(['message_start', 'message_delta', 'message_stop']);
    });

    it('ignores vendor keep-alive JSON that is not a chunk', () => {
      expect(createOpenaiToAnthropicStream({ model: 'm', id: 'msg_1' }).push({ data: '{"type":"ping"}' })).to.equal('');
    });
  });
});
