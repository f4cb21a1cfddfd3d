import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Raw HTTP/1.1 over a loopback socket, for requests no well-behaved client sends: bodies that
 * lie about their length, chunked floods, invalid bytes, clients that trickle headers or bodies.
 */

export interface RawResponse {
  /** 0 when the connection closed without an answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from connect until the socket closed (or the overall timeout). */
  closedAfterMs: number;
  /** The connection was still open at the overall timeout. */
  timedOut: boolean;
}

function parse(raw: Buffer): Pick<RawResponse, 'status' | 'headers' | 'body'> {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: '' };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length)) body = body.subarray(0, length);
  return { status, headers, body: body.toString('utf8') };
}

export interface RawOptions {
  /** Request head without the final blank line, e.g. `POST /x HTTP/1.1\r\nHost: a`. */
  head: string;
  /** Leave the head unfinished (no blank line): a slow-header client drips the rest. */
  openHead?: boolean;
  /** Body bytes sent right after the head. */
  body?: Buffer | string;
  /** Called after the head and body were written; may keep writing (slow or flooding clients). */
  drip?: (socket: net.Socket, answered: () => boolean) => Promise<void>;
  /** Overall bound (default 10 s). */
  timeoutMs?: number;
}

/** Sends one request on a fresh connection and reads until the server closes or answers fully. */
export function rawRequest(port: number, options: RawOptions): Promise<RawResponse> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const answered = () => {
      const parsed = parse(Buffer.concat(chunks));
      if (parsed.status === 0) return false;
      const length = Number(parsed.headers['content-length'] ?? NaN);
      return Number.isFinite(length) ? Buffer.byteLength(parsed.body) >= length : false;
    };
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks)), closedAfterMs: Date.now() - started, timedOut });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // A complete answer with Content-Length: done even if the server keeps the socket open.
      if (answered()) finish(false);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      socket.write(options.openHead ? `${options.head}\r\n` : `${options.head}\r\n\r\n`);
      if (options.body !== undefined) socket.write(options.body);
      if (options.drip) void options.drip(socket, () => done || chunks.length > 0).catch(() => undefined);
    });
  });
}

/** Writes `chunk` every `everyMs` until the server answers or closes, or `maxMs` passes. */
export function trickle(chunk: string | Buffer, everyMs: number, maxMs: number) {
  return async (socket: net.Socket, answered: () => boolean) => {
    const deadline = Date.now() + maxMs;
    while (!answered() && !socket.destroyed && Date.now() < deadline) {
      await sleep(everyMs);
      if (!socket.destroyed) socket.write(chunk);
    }
  };
}

/** Streams chunked-encoding pieces of `size` bytes until the server answers or `maxBytes` went out. */
export function chunkedFlood(size: number, maxBytes: number) {
  const piece = Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), Buffer.alloc(size, 0x61), Buffer.from('\r\n')]);
  return async (socket: net.Socket, answered: () => boolean) => {
    let sent = 0;
    while (!answered() && !socket.destroyed && sent < maxBytes) {
      const ok = socket.write(piece);
      sent += size;
      if (!ok) await Promise.race([new Promise((r) => socket.once('drain', r)), sleep(200)]);
      // A breath between pieces: an early answer is read before more bytes go out, so a server
      // that closes after answering is not hit by data that would turn its close into a reset.
      await sleep(2);
    }
  };
}

/** p-th percentile (0..100) of samples (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
