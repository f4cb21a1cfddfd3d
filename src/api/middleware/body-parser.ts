import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { InvalidJsonError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';
import { BodyAbortedError, BodyTooLargeError, readBoundedBody } from '../../lib/read-body.js';
import { jsonDepthExceeds } from '../../lib/json-depth.js';
import type { ApiState } from '../context.js';

/** Deeper JSON than this is refused before parsing: no legitimate admin payload nests 64 levels. */
export const MAX_JSON_DEPTH = 64;

export interface JsonBodyOptions {
  /** Largest accepted body in bytes (config.http.apiBodyLimitBytes). */
  limitBytes: number;
  /** Default MAX_JSON_DEPTH. */
  maxDepth?: number;
}

export { jsonDepthExceeds } from '../../lib/json-depth.js';

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * JSON request bodies for writes, into `ctx.state.body` (undefined when the request has none).
 * 413 payload_too_large past the limit (from Content-Length before reading, or while reading),
 * 415 unsupported_media_type for anything but JSON (or a compressed/non-UTF-8 body),
 * 400 invalid_json for malformed or absurdly nested JSON. The parser's own message is not
 * echoed: it quotes the body back.
 */
export function jsonBody(options: JsonBodyOptions): Middleware<ApiState> {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  return async (ctx, next) => {
    const req = ctx.req;
    if (!hasBody(req)) {
      ctx.state.body = undefined;
      return next();
    }
    if (!ctx.request.is('application/json', 'application/*+json')) throw new UnsupportedMediaTypeError();
    const encoding = (ctx.get('Content-Encoding') || 'identity').toLowerCase();
    if (encoding !== 'identity') throw new UnsupportedMediaTypeError('Compressed request bodies are not accepted');
    const charset = ctx.request.charset;
    if (charset && charset !== 'utf-8' && charset !== 'utf8') throw new UnsupportedMediaTypeError('Request body must be UTF-8 JSON');
    let raw: Buffer;
    try {
      raw = await readBoundedBody(req, options.limitBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        // The rest of the body stays unread: close the connection so it cannot pin the socket.
        ctx.set('Connection', 'close');
        throw new PayloadTooLargeError(options.limitBytes);
      }
      if (err instanceof BodyAbortedError) throw new InvalidJsonError('Request body was incomplete');
      throw err;
    }
    // JSON is UTF-8 (RFC 8259): invalid bytes are refused, not silently replaced by U+FFFD.
    if (!isUtf8(raw)) throw new InvalidJsonError('Request body is not valid UTF-8');
    let text = raw.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') {
      ctx.state.body = undefined;
      return next();
    }
    if (jsonDepthExceeds(text, maxDepth)) throw new InvalidJsonError(`Request body nests deeper than ${maxDepth} levels`);
    try {
      ctx.state.body = JSON.parse(text) as unknown;
    } catch {
      throw new InvalidJsonError();
    }
    return next();
  };
}
