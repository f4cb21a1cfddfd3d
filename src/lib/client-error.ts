import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger.js';

/**
 * The HTTP edge shared by the api and the gateway (docs/http-edge.md): what a client whose bytes
 * node's HTTP parser refuses (malformed request line, bad header bytes, oversized headers, broken
 * chunked encoding) or who is too slow to send its request is answered. node's default is a bare
 * `400 Bad Request` in plain text; here every such 4xx carries a JSON error in the server's own
 * error shape (DESIGN §7, §9.8). The raw bytes (`err.rawPacket`, which may hold a key) are never
 * echoed, logged or kept.
 */

export type ClientErrorKind = 'malformed' | 'headers_too_large' | 'chunk_extensions_too_large' | 'timeout';

export interface ClientErrorReply {
  status: 400 | 408 | 413 | 431;
  kind: ClientErrorKind;
  /** Fixed text: never built from the client's bytes. */
  message: string;
}

/** Each server's own error body for a reply (the api's `{error:{code,message}}`, the gateway's OpenAI shape). */
export type RenderClientError = (reply: ClientErrorReply) => unknown;

/**
 * node 20 reports both an expired `headersTimeout` and an expired `requestTimeout` as
 * ERR_HTTP_REQUEST_TIMEOUT; HPE_HEADERS_TIMEOUT is what older parsers called the first.
 */
const TIMEOUT_CODES = new Set(['ERR_HTTP_REQUEST_TIMEOUT', 'HPE_HEADERS_TIMEOUT']);
/** llhttp error codes are fixed identifiers: safe to name in the message. */
const PARSER_CODE = /^HPE_[A-Z_]{1,40}$/;

/**
 * What to answer for a `clientError` code; undefined when the socket itself failed (the peer
 * reset or vanished: there is no one to answer, the socket is just destroyed).
 */
export function classifyClientError(err: { code?: unknown; syscall?: unknown }): ClientErrorReply | undefined {
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return { status: 408, kind: 'timeout', message: 'The request headers or body did not arrive in time' };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, kind: 'headers_too_large', message: 'Request header fields are too large' };
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return { status: 413, kind: 'chunk_extensions_too_large', message: 'Chunk extensions of the request body are too large' };
  }
  if (code !== undefined && PARSER_CODE.test(code)) {
    return { status: 400, kind: 'malformed', message: `Malformed HTTP request (${code})` };
  }
  // Socket-level failures (ECONNRESET, EPIPE, ETIMEDOUT, ...): system errors carry a syscall.
  if (typeof err.syscall === 'string' || (code !== undefined && /^E[A-Z]+$/.test(code))) return undefined;
  return { status: 400, kind: 'malformed', message: 'Malformed HTTP request' };
}

/** How long an answered socket keeps reading (and discarding) before it is destroyed. */
export const CLIENT_ERROR_LINGER_MS = 1_000;

/** The raw HTTP/1.1 answer: JSON body, Content-Length, Connection: close. */
export function clientErrorResponse(reply: ClientErrorReply, body: unknown): string {
  const json = JSON.stringify(body);
  return (
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(json)}\r\n` +
    'Connection: close\r\n' +
    '\r\n' +
    json
  );
}

interface HttpSocket extends Duplex {
  /** The ServerResponse node has attached to the socket, if a request is in flight. */
  _httpMessage?: { headersSent?: boolean } | null;
}

/**
 * A `clientError` listener for `server.on('clientError', …)`. When the socket is writable and no
 * response byte went out yet, it answers once with the rendered JSON error and half-closes; the
 * socket keeps draining what the client still sends for CLIENT_ERROR_LINGER_MS, so a client that
 * is mid-upload reads the answer instead of a reset, then it is destroyed. Anything else (reset
 * peers, a response already under way) is destroyed at once, as node would. Logs at debug only:
 * these are client mistakes.
 */
export function clientErrorHandler(logger: Logger, render: RenderClientError): (err: Error, socket: Duplex) => void {
  const answered = new WeakSet<Duplex>();
  return (err, socket) => {
    // The raw packet may hold a key: drop it so nothing downstream can log it.
    delete (err as { rawPacket?: unknown }).rawPacket;
    // Further parser errors and timeout checks on a socket already answered: it is lingering.
    if (answered.has(socket)) return;
    const reply = classifyClientError(err as { code?: unknown; syscall?: unknown });
    const code = (err as { code?: unknown }).code;
    const inFlight = (socket as HttpSocket)._httpMessage;
    if (!reply || socket.destroyed || !socket.writable || inFlight?.headersSent === true) {
      logger.debug({ code }, 'client connection failed');
      socket.destroy();
      return;
    }
    logger.debug({ code, status: reply.status }, 'refused a malformed or slow HTTP request');
    answered.add(socket);
    const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    socket.end(clientErrorResponse(reply, render(reply)));
  };
}

/**
 * The timeout options of both servers' createServer. node checks header and request timeouts
 * only every `connectionsCheckingInterval` (default 30 s), so a slow client would linger up to
 * 30 s past its deadline: check at half the headers timeout, between 250 ms and 1 s.
 */
export function serverTimeouts(http: { requestTimeoutMs: number; headersTimeoutMs: number }): {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  // node requires headersTimeout <= requestTimeout.
  const headersTimeout = Math.min(http.headersTimeoutMs, http.requestTimeoutMs);
  return {
    requestTimeout: http.requestTimeoutMs,
    headersTimeout,
    connectionsCheckingInterval: Math.max(250, Math.min(1_000, Math.floor(headersTimeout / 2))),
  };
}
