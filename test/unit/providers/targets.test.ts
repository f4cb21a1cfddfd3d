import { expect } from 'chai';
import type { ProviderSnapshot } from '../../../src/lib/redis-layout.js';
import { adapterFor } from '../../../src/gateway/providers/registry.js';
import type { Operation } from '../../../src/gateway/types.js';
import { CODEX_TOKEN, jwt, snapshot } from './fixtures.js';

interface Case {
  name: string;
  type: string;
  provider?: Partial<ProviderSnapshot>;
  op: Operation;
  model?: string;
  stream?: boolean;
  origin: string;
  path: string;
  headers: Record<string, string>;
}

const JSON_CT = { 'content-type': 'application/json' };
const BEARER = { authorization: 'Bearer sk-secret-7', ...JSON_CT };
const ANTHROPIC_KEY = { 'x-api-key': 'sk-secret-7', 'anthropic-version': '2023-06-01', ...JSON_CT };
const CLAUDE_CODE = { authorization: 'Bearer sk-secret-7', 'anthropic-beta': 'oauth-2025-04-20', 'anthropic-version': '2023-06-01', ...JSON_CT };
const GOOG_KEY = { 'x-goog-api-key': 'sk-secret-7', ...JSON_CT };
const GEMINI_ORIGIN = 'https://generativelanguage.googleapis.com';
const CODEX_HEADERS = {
  authorization: `Bearer ${CODEX_TOKEN}`,
  'openai-beta': 'responses=experimental',
  originator: 'codex_cli_rs',
  accept: 'text/event-stream',
  'content-type': 'application/json',
  'chatgpt-account-id': 'acct-1234',
};
const CODE_ASSIST = { provider: { google_project: 'proj-1' } };

const cases: Case[] = [
  // openai / compatible: base URL is the API root with its version; a bare origin gets /v1
  { name: 'openai default base URL', type: 'openai', op: 'chat', origin: 'https://api.openai.com', path: '/v1/chat/completions', headers: BEARER },
  { name: 'openai preset base URL', type: 'openai', provider: { base_url: 'https://api.openai.com/v1' }, op: 'completions', origin: 'https://api.openai.com', path: '/v1/completions', headers: BEARER },
  { name: 'openai trailing slash', type: 'openai', provider: { base_url: 'https://api.openai.com/v1/' }, op: 'embeddings', origin: 'https://api.openai.com', path: '/v1/embeddings', headers: BEARER },
  { name: 'openai responses', type: 'openai', provider: { base_url: 'https://api.openai.com/v1' }, op: 'responses', origin: 'https://api.openai.com', path: '/v1/responses', headers: BEARER },
  { name: 'compatible with a path prefix', type: 'compatible', provider: { base_url: 'http://127.0.0.1:8000/openai/v1' }, op: 'chat', origin: 'http://127.0.0.1:8000', path: '/openai/v1/chat/completions', headers: BEARER },
  { name: 'compatible with a path prefix and trailing slash', type: 'compatible', provider: { base_url: 'http://127.0.0.1:8000/openai/v1/' }, op: 'embeddings', origin: 'http://127.0.0.1:8000', path: '/openai/v1/embeddings', headers: BEARER },
  { name: 'compatible bare origin gets /v1', type: 'compatible', provider: { base_url: 'http://vllm:8000' }, op: 'chat', origin: 'http://vllm:8000', path: '/v1/chat/completions', headers: BEARER },
  { name: 'compatible bare origin with slash gets /v1', type: 'compatible', provider: { base_url: 'http://vllm:8000/' }, op: 'completions', origin: 'http://vllm:8000', path: '/v1/completions', headers: BEARER },
  { name: 'compatible non-v1 root kept verbatim', type: 'compatible', provider: { base_url: 'https://generativelanguage.googleapis.com/v1beta/openai/' }, op: 'chat', origin: GEMINI_ORIGIN, path: '/v1beta/openai/chat/completions', headers: BEARER },
  { name: 'compatible normalised host, default port, doubled slashes', type: 'compatible', provider: { base_url: ' HTTPS://API.Example.COM:443//proxy//v1// ' }, op: 'responses', origin: 'https://api.example.com', path: '/proxy/v1/responses', headers: BEARER },
  { name: 'compatible IPv6 loopback', type: 'compatible', provider: { base_url: 'http://[::1]:11434/v1' }, op: 'chat', origin: 'http://[::1]:11434', path: '/v1/chat/completions', headers: BEARER },

  // anthropic family: root without version; /v1 at the end of a base URL is not repeated
  { name: 'anthropic default base URL', type: 'anthropic', op: 'messages', origin: 'https://api.anthropic.com', path: '/v1/messages', headers: ANTHROPIC_KEY },
  { name: 'anthropic preset base URL', type: 'anthropic', provider: { base_url: 'https://api.anthropic.com' }, op: 'count_tokens', origin: 'https://api.anthropic.com', path: '/v1/messages/count_tokens', headers: ANTHROPIC_KEY },
  { name: 'anthropic base URL with /v1/', type: 'anthropic', provider: { base_url: 'https://api.anthropic.com/v1/' }, op: 'messages', origin: 'https://api.anthropic.com', path: '/v1/messages', headers: ANTHROPIC_KEY },
  { name: 'claude behind a proxy prefix', type: 'claude', provider: { base_url: 'https://proxy.example.com/anthropic' }, op: 'messages', origin: 'https://proxy.example.com', path: '/anthropic/v1/messages', headers: ANTHROPIC_KEY },
  { name: 'claude behind a proxy prefix with /v1', type: 'claude', provider: { base_url: 'https://proxy.example.com/anthropic/v1' }, op: 'count_tokens', origin: 'https://proxy.example.com', path: '/anthropic/v1/messages/count_tokens', headers: ANTHROPIC_KEY },
  { name: 'claude-code OAuth', type: 'claude-code', op: 'messages', origin: 'https://api.anthropic.com', path: '/v1/messages', headers: CLAUDE_CODE },
  { name: 'claude-code count_tokens on a mock', type: 'claude-code', provider: { base_url: 'http://127.0.0.1:9001/' }, op: 'count_tokens', origin: 'http://127.0.0.1:9001', path: '/v1/messages/count_tokens', headers: CLAUDE_CODE },

  // gemini family
  { name: 'gemini default base URL', type: 'gemini', op: 'generate_content', model: 'gemini-2.5-pro', origin: GEMINI_ORIGIN, path: '/v1beta/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },
  { name: 'gemini stream op', type: 'gemini', op: 'stream_generate_content', model: 'gemini-2.5-pro', stream: true, origin: GEMINI_ORIGIN, path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'gemini stream flag on generate_content', type: 'gemini', op: 'generate_content', model: 'gemini-2.5-flash', stream: true, origin: GEMINI_ORIGIN, path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'google: models/ prefix dropped, trailing slash', type: 'google', provider: { base_url: 'https://generativelanguage.googleapis.com/' }, op: 'generate_content', model: 'models/gemini-2.5-flash', origin: GEMINI_ORIGIN, path: '/v1beta/models/gemini-2.5-flash:generateContent', headers: GOOG_KEY },
  { name: 'aistudio base URL with /v1beta/ not repeated', type: 'aistudio', provider: { base_url: 'https://generativelanguage.googleapis.com/v1beta/' }, op: 'stream_generate_content', model: 'gemini-2.5-pro', origin: GEMINI_ORIGIN, path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'aistudio base URL with /v1 selects v1', type: 'aistudio', provider: { base_url: 'https://generativelanguage.googleapis.com/v1' }, op: 'generate_content', model: 'gemini-2.5-pro', origin: GEMINI_ORIGIN, path: '/v1/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },
  { name: 'gemini model with / and special characters', type: 'gemini', op: 'generate_content', model: 'tunedModels/my model:v1?x=1#y%', origin: GEMINI_ORIGIN, path: '/v1beta/models/tunedModels%2Fmy%20model%3Av1%3Fx%3D1%23y%25:generateContent', headers: GOOG_KEY },
  { name: 'gemini model with ../ cannot climb the path', type: 'gemini', op: 'generate_content', model: '../../v1/files', origin: GEMINI_ORIGIN, path: '/v1beta/models/..%2F..%2Fv1%2Ffiles:generateContent', headers: GOOG_KEY },
  { name: 'gemini mock with a path prefix', type: 'gemini', provider: { base_url: 'http://127.0.0.1:9000/gemini' }, op: 'generate_content', model: ' gemini-2.5-pro ', origin: 'http://127.0.0.1:9000', path: '/gemini/v1beta/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },

  // vertex
  { name: 'vertex global (default location)', type: 'vertex', provider: { google_project: 'my-proj' }, op: 'generate_content', model: 'gemini-2.5-pro', origin: 'https://aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/global/publishers/google/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },
  { name: 'vertex explicit global', type: 'vertex', provider: { google_project: 'my-proj', google_location: 'global' }, op: 'stream_generate_content', model: 'gemini-2.5-pro', stream: true, origin: 'https://aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'vertex regional', type: 'vertex', provider: { google_project: 'my-proj', google_location: 'us-central1' }, op: 'generate_content', model: 'gemini-2.5-flash', origin: 'https://us-central1-aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent', headers: GOOG_KEY },
  { name: 'vertex regional stream, location normalised', type: 'vertex', provider: { google_project: 'my-proj', google_location: ' Europe-West4 ' }, op: 'stream_generate_content', model: 'gemini-2.5-flash', origin: 'https://europe-west4-aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'vertex access token as Bearer, resource-name model', type: 'vertex', provider: { google_project: 'my-proj', api_key: 'ya29.token-7' }, op: 'generate_content', model: 'publishers/google/models/gemini-2.5-pro', origin: 'https://aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/global/publishers/google/models/gemini-2.5-pro:generateContent', headers: { authorization: 'Bearer ya29.token-7', ...JSON_CT } },
  { name: 'vertex model version with @', type: 'vertex', provider: { google_project: 'my-proj', google_location: 'us-east5' }, op: 'generate_content', model: 'gemini-2.0-flash@001', origin: 'https://us-east5-aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/us-east5/publishers/google/models/gemini-2.0-flash%40001:generateContent', headers: GOOG_KEY },
  { name: 'vertex base URL replaces the host', type: 'vertex', provider: { google_project: 'my-proj', google_location: 'us-central1', base_url: 'http://127.0.0.1:9100/' }, op: 'generate_content', model: 'gemini-2.5-pro', origin: 'http://127.0.0.1:9100', path: '/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },
  { name: 'vertex base URL with prefix and v1beta1', type: 'vertex', provider: { google_project: 'my-proj', base_url: 'http://127.0.0.1:9100/vertex/v1beta1' }, op: 'generate_content', model: 'gemini-2.5-pro', origin: 'http://127.0.0.1:9100', path: '/vertex/v1beta1/projects/my-proj/locations/global/publishers/google/models/gemini-2.5-pro:generateContent', headers: GOOG_KEY },
  { name: 'vertex-express without project', type: 'vertex-express', op: 'generate_content', model: 'gemini-2.5-flash', origin: 'https://aiplatform.googleapis.com', path: '/v1/publishers/google/models/gemini-2.5-flash:generateContent', headers: GOOG_KEY },
  { name: 'vertex-express without project ignores a regional location', type: 'vertex-express', provider: { google_location: 'us-central1' }, op: 'stream_generate_content', model: 'gemini-2.5-flash', origin: 'https://aiplatform.googleapis.com', path: '/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse', headers: GOOG_KEY },
  { name: 'vertex-express with project uses the project path', type: 'vertex-express', provider: { google_project: 'my-proj', google_location: 'us-central1', api_key: 'ya29.not-a-bearer' }, op: 'generate_content', model: 'gemini-2.5-flash', origin: 'https://us-central1-aiplatform.googleapis.com', path: '/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent', headers: { 'x-goog-api-key': 'ya29.not-a-bearer', ...JSON_CT } },

  // codex
  { name: 'codex default', type: 'codex', provider: { api_key: CODEX_TOKEN }, op: 'responses', model: 'gpt-5-codex', origin: 'https://chatgpt.com', path: '/backend-api/codex/responses', headers: CODEX_HEADERS },
  { name: 'codex mock with trailing slash', type: 'codex', provider: { api_key: CODEX_TOKEN, base_url: 'http://127.0.0.1:9200/backend-api/codex/' }, op: 'responses', stream: true, origin: 'http://127.0.0.1:9200', path: '/backend-api/codex/responses', headers: CODEX_HEADERS },

  // code assist
  { name: 'gemini-cli generate', type: 'gemini-cli', ...CODE_ASSIST, op: 'generate_content', model: 'gemini-2.5-pro', origin: 'https://cloudcode-pa.googleapis.com', path: '/v1internal:generateContent', headers: BEARER },
  { name: 'gemini-cli stream', type: 'gemini-cli', ...CODE_ASSIST, op: 'stream_generate_content', model: 'gemini-2.5-pro', stream: true, origin: 'https://cloudcode-pa.googleapis.com', path: '/v1internal:streamGenerateContent?alt=sse', headers: BEARER },
  { name: 'gemini-cli mock with /v1internal/', type: 'gemini-cli', provider: { google_project: 'proj-1', base_url: 'http://127.0.0.1:9300/v1internal/' }, op: 'generate_content', model: 'gemini-2.5-pro', origin: 'http://127.0.0.1:9300', path: '/v1internal:generateContent', headers: BEARER },
  { name: 'antigravity stream', type: 'antigravity', ...CODE_ASSIST, op: 'stream_generate_content', model: 'claude-sonnet-4-5', origin: 'https://cloudcode-pa.googleapis.com', path: '/v1internal:streamGenerateContent?alt=sse', headers: { ...BEARER, 'user-agent': 'antigravity/1.11.5 linux/amd64' } },
];

describe('provider adapters: upstream targets', () => {
  for (const c of cases) {
    it(`${c.type} ${c.op}: ${c.name}`, () => {
      const adapter = adapterFor(c.type);
      expect(adapter, c.type).to.not.equal(undefined);
      const target = adapter!.target({ op: c.op, provider: snapshot(c.type, c.provider), upstreamModel: c.model ?? 'model-x', stream: c.stream ?? false });
      expect(target).to.deep.equal({ origin: c.origin, path: c.path, headers: c.headers });
    });
  }

  it('codex leaves chatgpt-account-id out when the token carries no account claim', () => {
    const token = jwt({ sub: 'user-1' });
    const target = adapterFor('codex')!.target({ op: 'responses', provider: snapshot('codex', { api_key: token }), upstreamModel: 'gpt-5', stream: true });
    expect(target.headers).to.not.have.property('chatgpt-account-id');
    expect(target.headers.authorization).to.equal(`Bearer ${token}`);
  });

  it('codex tolerates an opaque (non-JWT) access token', () => {
    const target = adapterFor('codex')!.target({ op: 'responses', provider: snapshot('codex', { api_key: 'opaque.%%%.x' }), upstreamModel: 'gpt-5', stream: true });
    expect(target.headers).to.not.have.property('chatgpt-account-id');
  });

  it('a snapshot type in another casing behaves like the normalized type', () => {
    const claudeCode = adapterFor(' Claude-Code ')!.target({ op: 'messages', provider: snapshot(' Claude-Code '), upstreamModel: 'm', stream: false });
    expect(claudeCode.headers).to.deep.equal(CLAUDE_CODE);
    const openai = adapterFor('OpenAI')!.target({ op: 'chat', provider: snapshot('OpenAI'), upstreamModel: 'm', stream: false });
    expect(`${openai.origin}${openai.path}`).to.equal('https://api.openai.com/v1/chat/completions');
    const antigravity = adapterFor('Antigravity')!.target({ op: 'generate_content', provider: snapshot('Antigravity', { google_project: 'p' }), upstreamModel: 'm', stream: false });
    expect(antigravity.headers['user-agent']).to.match(/^antigravity\//);
  });

  it('the credential is trimmed', () => {
    const target = adapterFor('openai')!.target({ op: 'chat', provider: snapshot('openai', { api_key: '  sk-secret-7\n' }), upstreamModel: 'gpt-5', stream: false });
    expect(target.headers.authorization).to.equal('Bearer sk-secret-7');
  });
});
