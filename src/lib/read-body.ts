import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';

/**
 * The one bounded body reader for the api and the gateway (raw-body underneath): refuses from
 * Content-Length before reading, stops a chunked body as soon as it passes the limit, and tells
 * a client that went away mid-body apart from one that sent too much.
 */
export class BodyTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

export class BodyAbortedError extends Error {
  constructor() {
    super('client closed the connection before the request body ended');
  }
}

/** True when Content-Length already announces more than the limit (refuse without reading). */
export function declaredLengthExceeds(req: IncomingMessage, limitBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && Number(declared) > limitBytes;
}

export async function readBoundedBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (declaredLengthExceeds(req, limitBytes)) throw new BodyTooLargeError(limitBytes);
  try {
    return await getRawBody(req, { limit: limitBytes });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new BodyTooLargeError(limitBytes);
    if (type === 'request.aborted' || type === 'request.size.invalid') throw new BodyAbortedError();
    throw err;
  }
}
