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
      {
        error: gatewayErrors.insufficientQuota('key', 10_000_000),
        format: 'openai',
        status: 429,
        body: { error: { message: 'This API key has used up its quota (key quota_limit $10); ask its owner to raise it', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } },
      },
      {
        error: gatewayErrors.insufficientQuota('master'),
        format: 'anthropic',
        status: 429,
        body: { type: 'error', error: { type: 'rate_limit_error', message: 'The account this API key belongs to has used up its quota (master quota_limit)' } },
      },
      {
        error: gatewayErrors.budgetExceeded('key', 'day', 'cost_usd', 5_000_000, 1_500),
        format: 'gemini',
        status: 429,
        body: { error: { code: 429, message: "Budget exceeded: the key's day budget of $5 is used up until the day ends", status: 'RESOURCE_EXHAUSTED' } },
      },
      {
        error: gatewayErrors.budgetExceeded('master', 'minute', 'requests', 100, 1_500),
        format: 'openai',
        status: 429,
        body: { error: { message: "Budget exceeded: the account (master)'s minute budget of 100 requests is used up until the minute ends", type: 'rate_limit_error', param: null, code: 'budget_exceeded' } },
      },
    ];
    for (const c of cases) {
      it(`${c.error.code} in ${c.format} shape`, () => {
        expect(renderError(c.error, c.format)).to.deep.equal({ status: c.status, body: c.body });
      });
    }
  });

  it('a used-up quota has no Retry-After and tells SDKs not to retry; a budget says when it resets', () => {
    expect(gatewayErrors.insufficientQuota('key').headers).to.deep.equal({ 'x-should-retry': 'false' });
    expect(gatewayErrors.budgetExceeded('key', 'hour', 'tokens', 10, 1_500).headers).to.deep.equal({ 'Retry-After': '2' });
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
