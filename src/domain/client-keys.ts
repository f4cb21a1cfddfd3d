import { randomBytes } from 'node:crypto';
import type { KeyDigester } from '../lib/key-digest.js';

/**
 * Master and child keys: 256-bit random secrets with a readable prefix (`ezm_` master, `ezk_`
 * child), shown once, stored only as a keyed digest plus prefix/last4 for display.
 */
export const MASTER_KEY_PREFIX = 'ezm_';
export const CHILD_KEY_PREFIX = 'ezk_';

export interface IssuedSecret {
  /** The plaintext: returned once in the creation response, never stored. */
  plaintext: string;
  digest: string;
  /** Display prefix, e.g. `ezk_AbCd`. */
  prefix: string;
  last4: string;
}

export function describeSecret(plaintext: string, digester: KeyDigester): IssuedSecret {
  return {
    plaintext,
    digest: digester.digest(plaintext),
    prefix: plaintext.slice(0, 8),
    last4: plaintext.slice(-4),
  };
}

export function issueSecret(kind: 'master' | 'child', digester: KeyDigester): IssuedSecret {
  const prefix = kind === 'master' ? MASTER_KEY_PREFIX : CHILD_KEY_PREFIX;
  return describeSecret(`${prefix}${randomBytes(32).toString('base64url')}`, digester);
}

/** How a stored key is shown: `ezk_AbCd…wxyz`. */
export function displayKey(prefix: string, last4: string): string {
  return `${prefix}…${last4}`;
}
