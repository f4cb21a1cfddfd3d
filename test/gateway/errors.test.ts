import { expect } from 'chai';
import { AppError } from '../../src/lib/errors.js';
import { formatForPath, gatewayErrors, renderError, toGatewayError, type ClientFormat, type GatewayError } from '../../src/gateway/errors.js';

describe('gateway errors', () => {
  describe(formatForPath.name, () => {
    const cases: Array<[string, ClientFormat]> = [
      ['/v1/chat/completions', 'openai'],
      ['/v1/models', 'openai'],
      ['/v1/messages', 'anthropic'],
      ['/v1/messages/count_tokens', 'anthropic'],
      ['/v1/messagesx', 'openai'],
      ['/v1beta/models', 'gemini'],
      ['/v1beta/models/gemini-2.0-flash:generateContent', 'gemini'],
      ['/nowhere', 'openai'],
    ];
    for (const [path, format] of cases) it(`${path} → ${format}`, () => expect(formatForPath(path)).to.equal(format));
  });

  describe(renderError.name, () => {
    const cases: Array<{ error: GatewayError; format: ClientFormat; status: number; body: unknown }> = [
      {
        error: gatewayErrors.invalidApiKey(),
        format: 'openai',
        status: 401,
        body: { error: { message: 'Invalid API key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
      },
      {
        error: gatewayErrors.invalidApiKey(),
        format: 'anthropic',
        status: 401,
        body: { type: 'error', error: { type: 'authentication_error', message: 'Invalid API key' } },
      },
      {
        error: gatewayErrors.invalidApiKey(),
        format: 'gemini',
        status: 401,
        body: { error: { code: 401, message: 'Invalid API key', status: 'UNAUTHENTICATED' } },
      },
      {
        error: gatewayErrors.notFound('GET', '/x'),
        format: 'openai',
        status: 404,
        body: { error: { message: 'Unknown route: GET /x', type: 'invalid_request_error', param: null, code: 'not_found' } },
      },
      { error: gatewayErrors.payloadTooLarge(10), format: 'anthropic', status: 413, body: { type: 'error', error: { type: 'request_too_large', message: 'Request body exceeds the limit of 10 bytes' } } },
      { error: gatewayErrors.unavailable(), format: 'gemini', status: 503, body: { error: { code: 503, message: gatewayErrors.unavailable().message, status: 'UNAVAILABLE' } } },
      { error: gatewayErrors.noUpstream(), format: 'gemini', status: 503, body: { error: { code: 503, message: gatewayErrors.noUpstream().message, status: 'UNAVAILABLE' } } },
    ];
    for (const c of cases) {
      it(`${c.error.code} in ${c.format} shape`, () => {
        expect(renderError(c.error, c.format)).to.deep.equal({ status: c.status, body: c.body });
      });
    }
  });

  describe(toGatewayError.name, () => {
    it('hides the text of unexpected errors', () => {
      const sut = toGatewayError(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
      expect(sut).to.include({ code: 'internal_error', status: 500, message: 'Internal gateway error' });
    });

    it('maps AppError codes, and every unauthorized to the one generic key message', () => {
      expect(toGatewayError(new AppError('rate_limited', 'slow down'))).to.include({ code: 'rate_limited', status: 429 });
      expect(toGatewayError(new AppError('unauthorized', 'key expired'))).to.include({ code: 'invalid_api_key', message: 'Invalid API key' });
    });
  });
});
