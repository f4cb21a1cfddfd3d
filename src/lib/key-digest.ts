import { createHmac } from 'node:crypto';
import { deriveSubkey } from './secrets.js';

/**
 * The one rule for storing and looking up client keys (master and child keys): a keyed digest,
 * HMAC-SHA256 under the `key-digest` subkey of EZ_SECRET, hex-encoded. The control plane stores
 * it in PostgreSQL and Redis (`auth:token:<digest>`); the gateway computes it per request.
 */
export class KeyDigester {
  private readonly key: Buffer;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, string>();

  /**
   * `cacheSize` > 0 remembers that many recent keys' digests (the gateway: a client sends the same
   * key on every request, and the HMAC was ~3 % of its CPU). The cache lives in this process's
   * memory only, beside the keys the process reads anyway; eviction is oldest-first.
   */
  constructor(masterSecret: string, options: { cacheSize?: number } = {}) {
    this.key = deriveSubkey(masterSecret, 'key-digest');
    this.cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 0));
  }

  digest(plaintextKey: string): string {
    if (this.cacheSize === 0) return this.compute(plaintextKey);
    let digest = this.cache.get(plaintextKey);
    if (digest === undefined) {
      digest = this.compute(plaintextKey);
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(plaintextKey, digest);
    }
    return digest;
  }

  private compute(plaintextKey: string): string {
    return createHmac('sha256', this.key).update(plaintextKey, 'utf8').digest('hex');
  }
}
