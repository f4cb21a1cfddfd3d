import { expect } from 'chai';
import { RESPONSES_PASSTHROUGH_FIELDS, RESPONSES_REFUSED_FIELDS, responsesIngress } from '../../../src/gateway/proxy/responses-ingress.js';

describe(responsesIngress.name, () => {
  it('forwards every pass-through field as sent', () => {
    const body: Record<string, unknown> = {};
    for (const field of RESPONSES_PASSTHROUGH_FIELDS) body[field] = { sent: field };
    expect(responsesIngress(body)).to.deep.equal({ ok: true, body, dropped: [] });
  });

  for (const field of RESPONSES_REFUSED_FIELDS) {
    it(`refuses "${field}" with unsupported field "${field}"`, () => {
      expect(responsesIngress({ model: 'm', input: 'hi', [field]: { any: 'value' } })).to.deep.equal({ ok: false, field, message: `unsupported field "${field}"` });
    });
  }

  const cases: Array<[name: string, body: Record<string, unknown>, expected: ReturnType<typeof responsesIngress>]> = [
    ['drops unknown fields, keeping order', { store: false, model: 'm', foo: 1, input: 'hi', stream_options: {} }, { ok: true, body: { model: 'm', input: 'hi' }, dropped: ['store', 'foo', 'stream_options'] }],
    ['an empty body passes (model checks happen elsewhere)', {}, { ok: true, body: {}, dropped: [] }],
    ['reports the first refused field in the client order', { model: 'm', text: {}, reasoning: {} }, { ok: false, field: 'text', message: 'unsupported field "text"' }],
    ['a refused field sent as null means "not set": dropped', { model: 'm', previous_response_id: null }, { ok: true, body: { model: 'm' }, dropped: ['previous_response_id'] }],
    ['false and empty values of refused fields are still refused', { model: 'm', include: [] }, { ok: false, field: 'include', message: 'unsupported field "include"' }],
    ['stream and tools pass', { model: 'm', stream: true, tools: [{ type: 'function', name: 'f' }], tool_choice: 'auto' }, { ok: true, body: { model: 'm', stream: true, tools: [{ type: 'function', name: 'f' }], tool_choice: 'auto' }, dropped: [] }],
  ];
  for (const [name, body, expected] of cases) {
    it(name, () => {
      expect(responsesIngress(body)).to.deep.equal(expected);
    });
  }
});
