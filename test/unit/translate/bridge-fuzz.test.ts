import { expect } from 'chai';
import { GatewayError } from '../../../src/gateway/errors.js';
import { bridgeFor } from '../../../src/gateway/proxy/bridges.js';
import type { Bridge } from '../../../src/gateway/proxy/bridge.js';
import type { Operation, WireFormat } from '../../../src/gateway/types.js';

/**
 * Invariant 8 across every cross-dialect bridge: whatever shape a client body has, building the
 * upstream request either succeeds or refuses with a GatewayError (a 4xx naming the field), never
 * a TypeError the engine would answer 500. Bodies are valid requests with one value at a time
 * replaced by each of a few wrong kinds, at every depth (bounded: a few thousand bodies per bridge).
 */

const FEATURES = { dp_claude_cross_upstream: 'true', dp_gemini_cross_upstream: 'true' };
const RESPONSES_ONLY = (op: Operation) => op === 'responses';

const TOOL = { type: 'function', function: { name: 'get_weather', description: 'd', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
const VALID: Record<'openai' | 'anthropic' | 'gemini', Record<string, unknown>> = {
  openai: {
    model: 'm',
    max_tokens: 50,
    temperature: 0.2,
    stream_options: { include_usage: true },
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
    ],
    tools: [TOOL],
    tool_choice: 'auto',
  },
  anthropic: {
    model: 'm',
    max_tokens: 50,
    system: [{ type: 'text', text: 'Be brief.' }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'sunny' }] }] },
    ],
    tools: [{ name: 'get_weather', description: 'd', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    tool_choice: { type: 'auto' },
  },
  gemini: {
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    contents: [
      { role: 'user', parts: [{ text: 'hi' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { result: 'sunny' } } }] },
    ],
    tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'd', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }],
    generationConfig: { temperature: 0.2, maxOutputTokens: 50, stopSequences: ['END'] },
  },
};

const WRONG: unknown[] = [null, 7, 'text', [], {}, [null], true];

/** Every body with one value (at any depth ≤ 5) replaced by each wrong kind, or its key removed. */
function* mutations(value: unknown, depth = 0): Generator<unknown> {
  if (depth > 5) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      for (const m of mutations(value[i], depth + 1)) yield value.map((v, j) => (j === i ? m : v));
      for (const w of WRONG) yield value.map((v, j) => (j === i ? w : v));
    }
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    for (const [key, v] of entries) {
      for (const m of mutations(v, depth + 1)) yield { ...value, [key]: m };
      for (const w of WRONG) yield { ...value, [key]: w };
      const { [key]: _removed, ...rest } = value as Record<string, unknown>;
      yield rest;
    }
  }
}

const CASES: Array<{ name: string; client: WireFormat; op: Operation; upstream: WireFormat; supports?: (op: Operation) => boolean }> = [
  { name: 'OpenAI chat → Anthropic', client: 'openai', op: 'chat', upstream: 'anthropic' },
  { name: 'OpenAI chat → Gemini', client: 'openai', op: 'chat', upstream: 'gemini' },
  { name: 'OpenAI chat → Responses (Codex)', client: 'openai', op: 'chat', upstream: 'openai', supports: RESPONSES_ONLY },
  { name: 'Anthropic → OpenAI chat', client: 'anthropic', op: 'messages', upstream: 'openai' },
  { name: 'Anthropic → Gemini', client: 'anthropic', op: 'messages', upstream: 'gemini' },
  { name: 'Anthropic → Responses (Codex)', client: 'anthropic', op: 'messages', upstream: 'openai', supports: RESPONSES_ONLY },
  { name: 'Gemini → OpenAI chat', client: 'gemini', op: 'generate_content', upstream: 'openai' },
  { name: 'Gemini → Anthropic', client: 'gemini', op: 'generate_content', upstream: 'anthropic' },
  { name: 'Gemini → Responses (Codex)', client: 'gemini', op: 'generate_content', upstream: 'openai', supports: RESPONSES_ONLY },
];

describe('cross-dialect bridges refuse malformed bodies with a 4xx, never a TypeError', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const bridge: Bridge | undefined = bridgeFor(c.op, c.client, c.upstream, FEATURES, c.supports);
      expect(bridge, 'bridge').to.not.equal(undefined);
      const valid = VALID[c.client as 'openai' | 'anthropic' | 'gemini'];
      for (const stream of [false, true]) {
        // The valid body itself translates, or is refused for a feature the upstream lacks (a 4xx).
        try {
          bridge!.requestBody({ body: valid, raw: Buffer.from(JSON.stringify(valid)), publicModel: 'm', upstreamModel: 'up', stream });
        } catch (err) {
          expect(err).to.be.instanceOf(GatewayError);
        }
      }
      let tried = 0;
      const crashes: string[] = [];
      for (const body of mutations(valid)) {
        tried++;
        for (const stream of [false, true]) {
          try {
            bridge!.requestBody({ body: body as Record<string, unknown>, raw: Buffer.from(JSON.stringify(body)), publicModel: 'm', upstreamModel: 'up', stream });
          } catch (err) {
            if (!(err instanceof GatewayError) && crashes.length < 5) {
              const at = (err as Error).stack?.split('\n').find((line) => line.includes('/src/'))?.trim() ?? '';
              crashes.push(`${(err as Error).name}: ${(err as Error).message} ${at} ← …${JSON.stringify(body).slice(-400)}`);
            }
          }
        }
      }
      expect(tried, 'bodies tried').to.be.above(100);
      expect(crashes, `non-GatewayError throws (first 5 of ${c.name})`).to.deep.equal([]);
    });
  }
});
