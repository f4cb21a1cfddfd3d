import { createHmac } from 'node:crypto';
import { deriveSubkey } from './secrets.js';

/**
 * The one rule for storing and looking up client keys (master and child keys): a keyed digest,
 * HMAC-SHA256 under the `key-digest` subkey of EZ_SECRET, hex-encoded. The control plane stores
 * it in PostgreSQL and Redis (`auth:token:<digest>`); the gateway computes it per request.
 */
export class KeyDigester {
  private readonly key: Buffer;

  constructor(masterSecret: string) {
    this.key = deriveSubkey(masterSecret, 'key-digest');
  }

  digest(plaintextKey: string): string {
    return createHmac('sha256', this.key).update(plaintextKey, 'utf8').digest('hex');
  }
}
