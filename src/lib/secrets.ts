import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';

/** What each HKDF subkey of EZ_SECRET is for; the label is the HKDF `info`, so never rename one. */
export const SUBKEY_PURPOSES = ['key-digest', 'upstream-encryption', 'jwt-signing', 'internal-token'] as const;
export type SubkeyPurpose = (typeof SUBKEY_PURPOSES)[number];

const HKDF_SALT = 'ez-api/v1';

/** 32-byte subkey of the master secret for one purpose (RFC 5869 HKDF-SHA256). */
export function deriveSubkey(masterSecret: string, purpose: SubkeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', masterSecret, HKDF_SALT, `ez-api:${purpose}`, 32));
}

/** Constant-time string comparison that does not leak the length through an early return. */
export function safeEqual(a: string, b: string): boolean {
  const key = randomBytes(32);
  const da = createHmac('sha256', key).update(a).digest();
  const db = createHmac('sha256', key).update(b).digest();
  return timingSafeEqual(da, db);
}

/** A URL-safe random token with a readable prefix, e.g. `ezadm_…`. */
export function randomToken(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

export interface ResolvedSecrets {
  master: string;
  adminToken: string;
  internalToken: string;
  /** Which values were generated or read from the data directory (dev only), for the banner. */
  generated: Array<'EZ_SECRET' | 'EZ_ADMIN_TOKEN'>;
}

function readOrCreate(file: string, create: () => string): { value: string; created: boolean } {
  if (existsSync(file)) return { value: readFileSync(file, 'utf8').trim(), created: false };
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = create();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { value, created: true };
}

/**
 * The secrets a process runs with. In production EZ_SECRET is required (config enforces it) and
 * EZ_ADMIN_TOKEN must be set for the admin API to accept anyone. In development and test a
 * missing secret or admin token is generated once and kept under `<dataDir>/secrets/`, so a
 * restart keeps working keys. EZ_INTERNAL_TOKEN defaults to an HKDF subkey of EZ_SECRET, so
 * processes that share EZ_SECRET agree on it without another variable.
 */
export function resolveSecrets(config: Config): ResolvedSecrets {
  const generated: ResolvedSecrets['generated'] = [];
  let master = config.secrets.master;
  let adminToken = config.secrets.adminToken;
  if (config.isDev) {
    const dir = path.join(config.dataDir, 'secrets');
    if (!master) {
      master = readOrCreate(path.join(dir, 'ez-secret'), () => randomBytes(32).toString('hex')).value;
      generated.push('EZ_SECRET');
    }
    if (!adminToken) {
      adminToken = readOrCreate(path.join(dir, 'admin-token'), () => randomToken('ezadm_')).value;
      generated.push('EZ_ADMIN_TOKEN');
    }
  }
  if (!master) throw new Error('EZ_SECRET is required outside development');
  const internalToken =
    config.secrets.internalToken ?? `ezint_${deriveSubkey(master, 'internal-token').toString('base64url')}`;
  // Production without EZ_ADMIN_TOKEN: a random token nobody knows, so the admin API refuses everyone
  // rather than accepting an empty bearer.
  return { master, adminToken: adminToken ?? randomToken('ezadm_'), internalToken, generated };
}
