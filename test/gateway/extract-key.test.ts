import { expect } from 'chai';
import type { IncomingHttpHeaders } from 'node:http';
import { extractClientKey, type ExtractedKey } from '../../src/gateway/auth/extract-key.js';

describe(extractClientKey.name, () => {
  const cases: Array<{ name: string; headers: IncomingHttpHeaders; query?: string; expected: ExtractedKey | undefined }> = [
    { name: 'nothing', headers: {}, expected: undefined },
    { name: 'Bearer token', headers: { authorization: 'Bearer ezk_abc' }, expected: { key: 'ezk_abc', source: 'authorization' } },
    { name: 'bearer scheme in any case, extra spaces', headers: { authorization: 'bEaReR   ezk_abc  ' }, expected: { key: 'ezk_abc', source: 'authorization' } },
    { name: 'empty bearer', headers: { authorization: 'Bearer ' }, expected: undefined },
    { name: 'a bearer value with a space is not a key', headers: { authorization: 'Bearer a b' }, expected: undefined },
    { name: 'Basic auth is skipped', headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'ezk_x' }, expected: { key: 'ezk_x', source: 'x-api-key' } },
    { name: 'x-api-key (Anthropic)', headers: { 'x-api-key': ' ezk_anthropic ' }, expected: { key: 'ezk_anthropic', source: 'x-api-key' } },
    { name: 'x-goog-api-key (Gemini)', headers: { 'x-goog-api-key': 'ezk_goog' }, expected: { key: 'ezk_goog', source: 'x-goog-api-key' } },
    { name: '?key= (Gemini REST)', headers: {}, query: 'key=ezk_query&alt=sse', expected: { key: 'ezk_query', source: 'query' } },
    { name: 'empty ?key=', headers: {}, query: 'key=', expected: undefined },
    { name: 'empty header falls through to the next source', headers: { 'x-api-key': '  ' }, query: 'key=ezk_q', expected: { key: 'ezk_q', source: 'query' } },
    {
      name: 'Authorization wins over every other source',
      headers: { authorization: 'Bearer ezk_1', 'x-api-key': 'ezk_2', 'x-goog-api-key': 'ezk_3' },
      query: 'key=ezk_4',
      expected: { key: 'ezk_1', source: 'authorization' },
    },
    { name: 'x-api-key wins over x-goog-api-key and ?key=', headers: { 'x-api-key': 'ezk_2', 'x-goog-api-key': 'ezk_3' }, query: 'key=ezk_4', expected: { key: 'ezk_2', source: 'x-api-key' } },
    { name: 'x-goog-api-key wins over ?key=', headers: { 'x-goog-api-key': 'ezk_3' }, query: 'key=ezk_4', expected: { key: 'ezk_3', source: 'x-goog-api-key' } },
    { name: 'a percent-encoded ?key= is decoded', headers: {}, query: 'key=ezk%2Babc', expected: { key: 'ezk+abc', source: 'query' } },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(extractClientKey(c.headers, new URLSearchParams(c.query ?? ''))).to.deep.equal(c.expected);
    });
  }
});
