import { isIP } from 'node:net';
import dns from 'node:dns';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';

/**
 * One keep-alive undici Pool per upstream origin (DESIGN §6). Connections to cloud metadata
 * addresses are refused at connect time too, whatever name resolved there (the control plane
 * already refuses such base URLs; a public name can still point at one).
 */

const METADATA_V4 = /^169\.254\./;
const METADATA_V6 = new Set(['fd00:ec2::254']);

export function isMetadataAddress(address: string): boolean {
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(ip) === 4) return METADATA_V4.test(ip) || ip === '100.100.100.200';
  return METADATA_V6.has(ip.toLowerCase());
}

/** dns.lookup that refuses metadata addresses (used by every upstream socket). */
function guardedLookup(
  hostname: string,
  options: dns.LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
): void {
  dns.lookup(hostname, options, (err, address, family) => {
    if (err) return callback(err, address, family);
    const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
    if (addresses.some(isMetadataAddress)) {
      const refused: NodeJS.ErrnoException = new Error(`refusing to connect to a cloud metadata address for ${hostname}`);
      refused.code = 'EZ_METADATA_ADDRESS';
      return callback(refused, address, family);
    }
    callback(null, address, family);
  });
}

export interface PoolOptions {
  /** Connect timeout (ms). */
  connectTimeoutMs: number;
  /** Sockets per origin. */
  connections?: number;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly defaults: { connections: number } = { connections: 256 }) {}

  get(origin: string, options: PoolOptions): Pool {
    const key = `${origin}|${options.connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && isMetadataAddress(host)) throw Object.assign(new Error('cloud metadata address'), { code: 'EZ_METADATA_ADDRESS' });
      pool = new Pool(origin, {
        connections: options.connections ?? this.defaults.connections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: options.connectTimeoutMs, lookup: guardedLookup },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }

  /** Closes every pool at once (shutdown past its deadline). */
  destroy(): void {
    for (const pool of this.pools.values()) void pool.destroy().catch(() => undefined);
    this.pools.clear();
  }
}

/** Why an upstream call failed (before a response arrived, or while its body was read). */
export type TransportFailure =
  | 'connect_timeout'
  | 'connect_error'
  | 'first_byte_timeout'
  | 'idle_timeout'
  | 'request_timeout'
  | 'aborted'
  | 'refused_address'
  /** The upstream closed (or reset) the connection after its response headers, mid-body. */
  | 'connection_closed'
  | 'other';

/**
 * The reason an attempt's own time bound (the group's `request_timeout_ms`, or what is left of the
 * request's overall deadline) aborts it with: connect, headers and body alike.
 */
export class RequestTimeoutError extends Error {
  readonly code = 'EZ_REQUEST_TIMEOUT';
  constructor(readonly boundMs: number) {
    super(`the upstream attempt ran past its ${boundMs} ms bound`);
    this.name = 'RequestTimeoutError';
  }
}

export function classifyTransportError(err: unknown): TransportFailure {
  if (err instanceof RequestTimeoutError) return 'request_timeout';
  if (err instanceof undiciErrors.ConnectTimeoutError) return 'connect_timeout';
  if (err instanceof undiciErrors.HeadersTimeoutError) return 'first_byte_timeout';
  if (err instanceof undiciErrors.BodyTimeoutError) return 'idle_timeout';
  if (err instanceof undiciErrors.RequestAbortedError) return 'aborted';
  const code = (err as { code?: string } | undefined)?.code;
  if (code === 'EZ_METADATA_ADDRESS' || (err as { cause?: { code?: string } } | undefined)?.cause?.code === 'EZ_METADATA_ADDRESS') {
    return 'refused_address';
  }
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_SOCKET' || code === 'EHOSTUNREACH') {
    return 'connect_error';
  }
  if ((err as { name?: string } | undefined)?.name === 'AbortError') return 'aborted';
  return 'other';
}

/**
 * A failure while reading a response body, after its headers came: a closed or reset socket is
 * then the upstream cutting its answer short, not a connection that could not be made.
 */
export function classifyBodyError(err: unknown): TransportFailure {
  const failure = classifyTransportError(err);
  return failure === 'connect_error' ? 'connection_closed' : failure;
}

export type UpstreamResponse = Dispatcher.ResponseData;
