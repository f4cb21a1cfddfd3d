import { expect } from 'chai';
import { createSseParser, formatSse, SseEventTooLargeError } from '../../src/gateway/sse.js';
import type { SseEvent } from '../../src/gateway/types.js';
import { parseChunked, randomChunks } from './translate/replay.js';

function parseAll(chunks: Array<string | Buffer>): SseEvent[] {
  const parser = createSseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...parser.push(c));
  return [...out, ...parser.end()];
}

describe('SSE', () => {
  describe(createSseParser.name, () => {
    const cases: Array<{ name: string; input: string; events: SseEvent[] }> = [
      { name: 'an unnamed event', input: 'data: {"a":1}\n\n', events: [{ data: '{"a":1}' }] },
      { name: 'a named event', input: 'event: ping\ndata: {"type":"ping"}\n\n', events: [{ event: 'ping', data: '{"type":"ping"}' }] },
      { name: 'CRLF line endings', input: 'event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n', events: [{ event: 'a', data: '1' }, { data: '2' }] },
      { name: 'CR line endings', input: 'event: a\rdata: 1\r\rdata: 2\r\r', events: [{ event: 'a', data: '1' }, { data: '2' }] },
      { name: 'multi-line data joined with LF', input: 'data: one\ndata: two\ndata:\n\n', events: [{ data: 'one\ntwo\n' }] },
      { name: 'comments skipped', input: ': keep-alive\n\n:another\ndata: x\n\n', events: [{ data: 'x' }] },
      { name: 'no space after the colon', input: 'data:x\n\n', events: [{ data: 'x' }] },
      { name: 'only one leading space removed', input: 'data:  x\n\n', events: [{ data: ' x' }] },
      { name: 'id and retry ignored', input: 'id: 7\nretry: 100\ndata: x\n\n', events: [{ data: 'x' }] },
      { name: 'an event without data is not dispatched', input: 'event: lonely\n\ndata: y\n\n', events: [{ data: 'y' }] },
      { name: 'empty data line dispatches an empty event', input: 'data:\n\n', events: [{ data: '' }] },
      { name: 'event name does not leak to the next event', input: 'event: a\ndata: 1\n\ndata: 2\n\n', events: [{ event: 'a', data: '1' }, { data: '2' }] },
      { name: 'a field without a colon', input: 'data\n\n', events: [{ data: '' }] },
      { name: 'a trailing event without its blank line is kept at end()', input: 'data: 1\n\ndata: 2', events: [{ data: '1' }, { data: '2' }] },
      { name: 'blank lines between events are harmless', input: '\n\n\ndata: 1\n\n\n\n', events: [{ data: '1' }] },
    ];
    for (const c of cases) {
      it(`parses ${c.name}`, () => expect(parseAll([c.input])).to.deep.equal(c.events));
      it(`parses ${c.name}, one byte at a time`, () => expect(parseAll([...Buffer.from(c.input)].map((b) => Buffer.from([b])))).to.deep.equal(c.events));
    }

    it('keeps a CRLF split across chunks as one line end', () => {
      expect(parseAll(['data: 1\r', '\n\r', '\ndata: 2\r\n\r\n'])).to.deep.equal([{ data: '1' }, { data: '2' }]);
    });

    it('decodes a multibyte character split across chunks', () => {
      const bytes = Buffer.from('data: 世界👋é\n\n');
      for (let cut = 1; cut < bytes.length; cut++) {
        expect(parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).to.deep.equal([{ data: '世界👋é' }]);
      }
    });

    it('gives the same events for any chunking (seeded)', () => {
      const text = 'event: a\r\ndata: {"t":"héllo 世界 👋"}\r\n\r\n: c\n\ndata: x\rdata: y\r\r' + 'data: z\n\n';
      const expected = parseAll([text]);
      for (let seed = 1; seed <= 50; seed++) expect(parseChunked(Buffer.from(text), seed, 7), `seed ${seed}`).to.deep.equal(expected);
    });

    it('returns events as soon as their blank line arrives', () => {
      const parser = createSseParser();
      expect(parser.push('data: 1\n')).to.deep.equal([]);
      expect(parser.push('\ndata: 2')).to.deep.equal([{ data: '1' }]);
      expect(parser.push('\n\n')).to.deep.equal([{ data: '2' }]);
      expect(parser.end()).to.deep.equal([]);
    });

    it('throws SseEventTooLargeError when one event outgrows the cap', () => {
      const parser = createSseParser({ maxEventSize: 100 });
      parser.push(`data: ${'x'.repeat(60)}\n`);
      expect(() => parser.push(`data: ${'x'.repeat(60)}\n`)).to.throw(SseEventTooLargeError).with.property('code', 'sse_event_too_large');
    });

    it('throws SseEventTooLargeError for an unterminated line beyond the cap', () => {
      const parser = createSseParser({ maxEventSize: 100 });
      for (const chunk of randomChunks(Buffer.from('data: ' + 'y'.repeat(90)), 3)) parser.push(chunk);
      expect(() => parser.push('y'.repeat(20))).to.throw(SseEventTooLargeError);
    });

    it('does not count completed events against the cap', () => {
      const parser = createSseParser({ maxEventSize: 100 });
      for (let i = 0; i < 50; i++) expect(parser.push(`data: ${'x'.repeat(80)}\n\n`)).to.have.length(1);
    });
  });

  describe(formatSse.name, () => {
    const cases: Array<[SseEvent, string]> = [
      [{ data: '{"a":1}' }, 'data: {"a":1}\n\n'],
      [{ event: 'message_stop', data: '{"type":"message_stop"}' }, 'event: message_stop\ndata: {"type":"message_stop"}\n\n'],
      [{ data: 'one\ntwo' }, 'data: one\ndata: two\n\n'],
      [{ data: '' }, 'data: \n\n'],
    ];
    for (const [event, text] of cases) it(`writes ${JSON.stringify(event)}`, () => expect(formatSse(event)).to.equal(text));

    it('round-trips through the parser', () => {
      const events: SseEvent[] = [{ event: 'x', data: 'a\nb' }, { data: '[DONE]' }, { data: '' }];
      expect(parseAll([events.map(formatSse).join('')])).to.deep.equal(events);
    });
  });
});
