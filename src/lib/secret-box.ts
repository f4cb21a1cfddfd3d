import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveSubkey } from './secrets.js';

/**
 * AES-256-GCM for secrets stored in PostgreSQL (upstream keys, OAuth tokens, webhook secrets).
 * Random 96-bit nonce per encryption; the 16-byte tag is appended to the ciphertext; the AAD binds
 * the ciphertext to its row and column, so a ciphertext copied into another row fails to open.
 * `keyVersion` names the key it was sealed under (1 = the current `upstream-encryption` subkey of
 * EZ_SECRET), leaving room for rotation.
 */
export interface SealedSecret {
  ciphertext: Buffer;
  nonce: Buffer;
  keyVersion: number;
}

export const CURRENT_KEY_VERSION = 1;
const TAG_BYTES = 16;

export class SecretBox {
  private readonly keys: Map<number, Buffer>;

  constructor(masterSecret: string) {
    this.keys = new Map([[CURRENT_KEY_VERSION, deriveSubkey(masterSecret, 'upstream-encryption')]]);
  }

  /** The AAD for a secret: `<table>:<row id>:<column>`. */
  static aad(table: string, id: number | string, column: string): string {
    return `${table}:${id}:${column}`;
  }

  seal(plaintext: string, aad: string): SealedSecret {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key(CURRENT_KEY_VERSION), nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { ciphertext: Buffer.concat([body, cipher.getAuthTag()]), nonce, keyVersion: CURRENT_KEY_VERSION };
  }

  open(sealed: SealedSecret, aad: string): string {
    const decipher = createDecipheriv('aes-256-gcm', this.key(sealed.keyVersion), sealed.nonce);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES));
    const body = sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  }

  private key(version: number): Buffer {
    const key = this.keys.get(version);
    if (!key) throw new Error(`no encryption key for key_version ${version}`);
    return key;
  }
}

/** `sk-a…wxyz`: first 4 and last 4 characters; short secrets show only their length class. */
export function maskSecret(secret: string): string {
  if (secret.length <= 12) return '****';
  return `${secret.slice(0, 4)}…${secret.slice(-4)}`;
}
