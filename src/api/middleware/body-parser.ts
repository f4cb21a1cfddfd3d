import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { InvalidJsonError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';
import type { ApiState } from '../context.js';

/** Deeper JSON than this is refused before parsing: no legitimate admin payload nests 64 levels. */
export const MAX_JSON_DEPTH = 64;

export interface JsonBodyOptions {
  /** Largest accepted body in bytes (config.http.apiBodyLimitBytes). */
  limitBytes: number;
  /** Default MAX_JSON_DEPTH. */
  maxDepth?: number;
}

/**
 * True when `text` opens more than `maxDepth` nested arrays/objects. A single iterative scan
 * (string-aware), so hostile input never recurses anywhere: not here, not in JSON.parse, not in
 * the validators and loggers that would walk the parsed value afterwards.
 */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads the raw body, refusing (413) as soon as it is known to exceed the limit. */
function readRaw(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        cleanup();
        req.pause();
        reject(new PayloadTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = () => {
      cleanup();
      reject(new InvalidJsonError('Request body could not be read'));
    };
    const onClose = () => {
      // 'close' before 'end': the client went away mid-body.
      cleanup();
      reject(new InvalidJsonError('Request body was incomplete'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
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
    const declared = ctx.request.length;
    if (declared !== undefined && declared > options.limitBytes) {
      // Refuse without reading; close the connection so an unread body cannot pin the socket.
      ctx.set('Connection', 'close');
      throw new PayloadTooLargeError(options.limitBytes);
    }
    let raw: Buffer;
    try {
      raw = await readRaw(req, options.limitBytes);
    } catch (err) {
      if (err instanceof PayloadTooLargeError) ctx.set('Connection', 'close');
      throw err;
    }
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
