import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing for named admins (docs/admins.md): scrypt from node:crypto (async: it runs on
 * libuv's thread pool, not the event loop) with a random 16-byte salt. The parameters are stored
 * with the hash, `scrypt$N$r$p$<salt base64>$<hash base64>`, so raising them later leaves old
 * hashes verifiable.
 */

/** Hashing parameters: N = 2^15, r = 8, p = 1 (≈ 32 MiB and tens of ms per hash). */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
export const SALT_BYTES = 16;
export const HASH_BYTES = 32;
/** Password length bounds of admin passwords (characters). */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/** Largest N a stored hash may name: a tampered row must not make one login allocate gigabytes. */
const MAX_N = 2 ** 20;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** scrypt needs 128·N·r bytes; node's default cap (32 MiB) is exactly too small for N = 2^15, r = 8. */
const maxmemFor = ({ N, r, p }: ScryptParams): number => 128 * N * r + 128 * r * p + 16 * 1024 * 1024;

function derive(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: maxmemFor(params) };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new `scrypt$N$r$p$salt$hash` string for the password. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, HASH_BYTES, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

const isPowerOfTwo = (n: number): boolean => n > 1 && (n & (n - 1)) === 0;

function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map((v) => (/^\d{1,8}$/.test(v!) ? Number(v) : NaN)) as [number, number, number];
  if (!isPowerOfTwo(N) || N > MAX_N || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) return undefined;
  return { N, r, p, salt, hash };
}

/**
 * True when the password matches the stored hash (compared in constant time). A stored value that
 * is not a well-formed scrypt hash never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

let dummy: Promise<string> | undefined;

/**
 * A hash of a random password with the current parameters, made once per process: login verifies
 * against it when the name is unknown, so an unknown name costs the same time as a wrong password.
 */
export function dummyPasswordHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(24).toString('base64url'));
  return dummy;
}

/** A strong random password (24 base64url characters, 144 bits) for `ez-api admins create`. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
