import type { SseEvent } from './types.js';

/**
 * Server-Sent Events, read incrementally from an upstream body and written to a client.
 * The parser follows the WHATWG event-stream rules for the fields the gateway uses
 * (`event`, `data`; `id` and `retry` are read and dropped) and is fed raw chunks: lines may end in
 * CRLF, LF or CR, and a chunk may end anywhere — inside a line, between a CR and its LF, or inside a
 * UTF-8 multibyte character.
 */

/** Default cap on one buffered event: 8 MiB worth of UTF-16 code units. */
export const DEFAULT_MAX_EVENT_SIZE = 8 * 1024 * 1024;

/** An upstream sent one event (or one unterminated line) larger than the parser's cap. */
export class SseEventTooLargeError extends Error {
  readonly code = 'sse_event_too_large';
  constructor(readonly limit: number) {
    super(`Upstream SSE event exceeds the limit of ${limit} characters`);
    this.name = 'SseEventTooLargeError';
  }
}

export interface SseParserOptions {
  /** Largest event (data plus the line being read), in UTF-16 code units. Default 8 MiB. */
  maxEventSize?: number;
}

export interface SseParser {
  /** Feed one chunk; returns the events it completed (possibly none). */
  push(chunk: Buffer | Uint8Array | string): SseEvent[];
  /**
   * The upstream ended: flushes a trailing event that lacked its blank line. (The spec discards
   * it; upstreams that forget the last blank line are common enough that we keep it.)
   */
  end(): SseEvent[];
}

const LF = 10;
const CR = 13;

export function createSseParser(options: SseParserOptions = {}): SseParser {
  const maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  /** The previous chunk ended with CR: a leading LF in the next one belongs to that line end. */
  let skipLeadingLf = false;
  let eventName: string | undefined;
  let dataLines: string[] = [];
  let dataSize = 0;

  function processLine(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (dataLines.length > 0) {
        out.push(eventName === undefined ? { data: dataLines.join('\n') } : { event: eventName, data: dataLines.join('\n') });
      }
      eventName = undefined;
      dataLines = [];
      dataSize = 0;
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* one leading space */) value = value.slice(1);
    if (field === 'data') {
      dataLines.push(value);
      dataSize += value.length + 1;
      if (dataSize > maxEventSize) throw new SseEventTooLargeError(maxEventSize);
    } else if (field === 'event') {
      eventName = value;
    }
    // `id`, `retry` and unknown fields are ignored.
  }

  function consume(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    if (skipLeadingLf && text.length > 0) {
      if (text.charCodeAt(0) === LF) start = 1;
      skipLeadingLf = false;
    }
    // Lines before the first terminator in `text` continue `buffer`.
    let i = start;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = buffer + text.slice(start, i);
      buffer = '';
      if (c === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          skipLeadingLf = true;
        }
      }
      start = i + 1;
      processLine(line, out);
    }
    if (start < text.length) buffer += text.slice(start);
    if (buffer.length + dataSize > maxEventSize) throw new SseEventTooLargeError(maxEventSize);
    return out;
  }

  return {
    push(chunk) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      return consume(text);
    },
    end() {
      const out = consume(decoder.decode());
      if (buffer !== '') {
        const line = buffer;
        buffer = '';
        processLine(line, out);
      }
      processLine('', out);
      skipLeadingLf = false;
      return out;
    },
  };
}

/**
 * One event as SSE text: an `event:` line when named, one `data:` line per line of data, and the
 * blank line that ends the event. JSON payloads never contain raw newlines, so they take one line.
 */
export function formatSse(event: SseEvent): string {
  const head = event.event === undefined ? '' : `event: ${event.event}\n`;
  const lines = event.data.split(/\r\n|\r|\n/);
  let body = '';
  for (const line of lines) body += `data: ${line}\n`;
  return `${head}${body}\n`;
}
