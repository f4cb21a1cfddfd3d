import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createLimiter, type AdmitRequest } from '../../src/gateway/limits/index.js';
import { LuaScript } from '../../src/gateway/limits/lua-script.js';
import { createTurnScriptBatch } from '../../src/gateway/limits/script-pipeline.js';
import { testEnv } from '../support/hooks.js';

const INCR = new LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");

describe('admissions batched per event-loop turn (limits/script-pipeline.ts)', () => {
  let redis: Redis;
  let prefix: string;

  beforeEach(() => {
    prefix = `test:${randomUUID()}:`;
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
  });

  afterEach(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('calls made in one turn share one pipeline, and each gets its own reply in order', async () => {
    const run = createTurnScriptBatch(redis);
    let pipelines = 0;
    const original = redis.pipeline.bind(redis);
    redis.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
      pipelines++;
      return original(...args);
    }) as Redis['pipeline'];
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => run(INCR, [`${prefix}n`], [i + 1])));
    expect(pipelines).to.equal(1);
    // INCRBY replies are the running sums 1, 1+2, … in the order the calls were made.
    let sum = 0;
    expect(replies).to.deep.equal(Array.from({ length: 50 }, (_, i) => (sum += i + 1)));
    // A lone call in a later turn goes alone (no pipeline).
    expect(await run(INCR, [`${prefix}n`], [1])).to.equal(sum + 1);
    expect(pipelines).to.equal(1);
  });

  it('reloads a script the server forgot (NOSCRIPT) inside a batch', async () => {
    const run = createTurnScriptBatch(redis);
    await redis.script('FLUSH');
    const replies = await Promise.all([run(INCR, [`${prefix}a`], [2]), run(INCR, [`${prefix}b`], [3])]);
    expect(replies).to.deep.equal([2, 3]);
  });

  it('a script error rejects only its own call', async () => {
    const run = createTurnScriptBatch(redis);
    await redis.set(`${prefix}text`, 'not a number');
    const results = await Promise.allSettled([run(INCR, [`${prefix}ok`], [1]), run(INCR, [`${prefix}text`], [1]), run(INCR, [`${prefix}ok`], [1])]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('a limiter using it admits exactly the RPM limit of one burst', async () => {
    const limiter = createLimiter(redis, { prefix, runAdmit: createTurnScriptBatch(redis) });
    const request = (): AdmitRequest => ({ masterId: 1, masterQps: 0, keyId: 7, keyRpm: 20, keyTpm: 0, estimatedTokens: 0, requestId: randomUUID() });
    const results = await Promise.all(Array.from({ length: 60 }, () => limiter.admit(request())));
    expect(results.filter((r) => r.ok)).to.have.length(20);
    expect(limiter.degraded).to.equal(false);
  });

  it('with Redis gone, every call of the batch rejects and the limiter decides locally', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    dead.on('error', () => {});
    try {
      const errors: unknown[] = [];
      const limiter = createLimiter(dead, { prefix, runAdmit: createTurnScriptBatch(dead), onError: (err) => errors.push(err) });
      const results = await Promise.all(Array.from({ length: 5 }, () => limiter.admit({ masterId: 1, masterQps: 0, keyId: 8, keyRpm: 0, keyTpm: 0, estimatedTokens: 0, requestId: randomUUID() })));
      expect(results.every((r) => r.ok)).to.equal(true);
      expect(errors).to.have.length(5);
      expect(limiter.degraded).to.equal(true);
    } finally {
      dead.disconnect();
    }
  });
});
