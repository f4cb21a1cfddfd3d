import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSseParser } from '../../../src/gateway/sse.js';
import type { SseEvent, StreamTranslator } from '../../../src/gateway/types.js';

/** Helpers for replaying recorded provider streams (test/fixtures/providers/<provider>/*.sse). */

export const FIXTURES = path.resolve('test/fixtures/providers');

export function fixture(provider: 'openai' | 'anthropic' | 'gemini', name: string): Buffer {
  return readFileSync(path.join(FIXTURES, provider, name));
}

export function fixtureJson<T>(provider: 'openai' | 'anthropic' | 'gemini', name: string): T {
  return JSON.parse(fixture(provider, name).toString('utf8')) as T;
}

/** mulberry32: a tiny seeded PRNG so random chunking is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits bytes at random points (1..maxSize bytes per chunk), cutting through multibyte characters too. */
export function randomChunks(bytes: Buffer, seed: number, maxSize = 40): Buffer[] {
  const rnd = seededRandom(seed);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const size = 1 + Math.floor(rnd() * maxSize);
    chunks.push(bytes.subarray(i, i + size));
    i += size;
  }
  return chunks;
}

/** Parses SSE bytes delivered in random chunks. */
export function parseChunked(bytes: Buffer, seed: number, maxSize?: number): SseEvent[] {
  const parser = createSseParser();
  const events: SseEvent[] = [];
  for (const chunk of randomChunks(bytes, seed, maxSize)) events.push(...parser.push(chunk));
  events.push(...parser.end());
  return events;
}

/** Feeds a recorded upstream stream through a translator, as the proxy engine would. */
export function replay(bytes: Buffer, translator: StreamTranslator, seed: number): string {
  let out = '';
  const parser = createSseParser();
  for (const chunk of randomChunks(bytes, seed)) for (const e of parser.push(chunk)) out += translator.push(e);
  for (const e of parser.end()) out += translator.push(e);
  return out + translator.end();
}

/** A translated stream as comparable values: each event's name (if any) and its JSON (or raw) data. */
export interface ParsedFrame {
  event?: string;
  data: unknown;
}

export function frames(sseText: string): ParsedFrame[] {
  if (sseText !== '' && !sseText.endsWith('\n\n')) throw new Error('SSE output must end with a blank line');
  const parser = createSseParser();
  const events = [...parser.push(sseText), ...parser.end()];
  return events.map((e) => {
    const data = e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as unknown);
    return e.event === undefined ? { data } : { event: e.event, data };
  });
}
