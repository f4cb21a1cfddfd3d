import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_FEATURES } from '../../src/domain/sync/projections.js';
import type { BindingSnapshot } from '../../src/lib/redis-layout.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { chatOnce } from '../support/gateway-process.js';
import { dumpSnapshot } from '../support/sync.js';
import { loggedRequestIds, runLoad, startCluster, type AdminResponse, type Cluster } from './support/cluster.js';

/**
 * Outages of the stores under a running deployment (DESIGN §9 invariants 1–3), with nothing
 * restarted by hand:
 *  - Redis stopped for 20 s during a stream of admin writes: each write answers 2xx or a clear 503
 *    within a bound; after Redis returns the outbox drains and Redis equals what PostgreSQL says
 *    (row by row, and field for field against a from-scratch rebuild after FLUSHALL); no revoked
 *    key is accepted by either gateway after the rebuild.
 *  - PostgreSQL stopped for 60 s under steady gateway load: ≥ 99.9 % of proxied requests succeed,
 *    the admin API answers 503 fast, and every answered request has its log row once PG is back.
 */
const REDIS_OUTAGE_MS = 20_000;
const PG_OUTAGE_MS = 60_000;
/** No admin write may take longer than this, Redis down or not. */
const WRITE_BOUND_MS = 5_000;
/** The admin API's answer while PostgreSQL is down. */
const PG_DOWN_BOUND_MS = 2_000;

type Json = Record<string, unknown>;

/** A child key the write stream created, and what the gateways must do with it at the end. */
interface IssuedKey {
  key: string;
  expect: 'accepted' | 'refused';
  why: string;
}

/** Fields that differ between an incremental apply and a rebuild without meaning (timestamps). */
function withoutVolatile(dump: Record<string, Record<string, string>>): Record<string, Record<string, string>> {
  const copy = structuredClone(dump);
  delete copy[RedisKeys.modelsMeta]?.version;
  delete copy[RedisKeys.modelsMeta]?.updated_at;
  for (const field of Object.keys(copy[RedisKeys.implicitBindings] ?? {})) {
    const binding = JSON.parse(copy[RedisKeys.implicitBindings]![field]!) as BindingSnapshot;
    copy[RedisKeys.implicitBindings]![field] = JSON.stringify({ ...binding, updated_at: '' });
  }
  return copy;
}

const isClear503 = (res: AdminResponse) => res.status === 503 && (res.body as { error?: { code?: string } } | undefined)?.error?.code === 'service_unavailable';

describe('faults: store outages under a running deployment (invariants 1–3)', function () {
  this.timeout(600_000);
  let cluster: Cluster;
  let pids: Record<string, number>;

  before(async function () {
    cluster = await startCluster();
    pids = Object.fromEntries([cluster.api, cluster.worker, ...cluster.gateways].map((p) => [p.name, p.pid()]));
  });
  after(async () => {
    await cluster?.close();
  });
  afterEach(() => {
    // "No process restarted by hand": the same processes ran through every outage.
    const now = Object.fromEntries([cluster.api, cluster.worker, ...cluster.gateways].map((p) => [p.name, p.alive() ? p.pid() : -1]));
    expect(now, 'every process survived the outage').to.deep.equal(pids);
  });

  it('Redis down 20 s during admin writes: 2xx or a clear 503, then the outbox drains, Redis equals PG, FLUSHALL rebuilds and no revoked key passes', async () => {
    const base = await cluster.seedTenant('outage-base');
    await cluster.waitForGateways();

    // The stream: masters with three keys each; one key disabled, one deleted; every second master
    // revoked (epoch bump), every third suspended. Each call is bounded and recorded.
    const calls: Array<{ what: string; res: AdminResponse; redisUp: boolean }> = [];
    const keys: IssuedKey[] = [{ key: base.key, expect: 'accepted', why: 'untouched key' }];
    let stop = false;
    const call = async (what: string, method: string, path: string, body?: unknown) => {
      const redisUp = cluster.redis.running();
      const res = await cluster.admin<Json>(method, path, body, { timeoutMs: WRITE_BOUND_MS + 5_000 });
      calls.push({ what, res, redisUp: redisUp && cluster.redis.running() });
      await sleep(100); // a steady stream, not a flood: ~10 writes/s
      return res.status >= 200 && res.status < 300 ? res.body : undefined;
    };
    const stream = (async () => {
      for (let i = 0; !stop && i < 1_000; i++) {
        const master = await call('create master', 'POST', '/admin/masters', { name: `stream-${i}`, global_qps: 0 });
        if (!master) continue;
        const issued = [];
        for (const n of ['a', 'b', 'c']) {
          const key = await call('issue key', 'POST', `/admin/masters/${master.id}/keys`, { name: `stream-${i}-${n}` });
          issued.push(key as { id: number; key: string } | undefined);
        }
        const [a, b, c] = issued;
        let masterRefused: string | undefined;
        if (i % 2 === 1 && (await call('revoke master', 'POST', `/admin/masters/${master.id}/revoke`))) masterRefused = 'master revoked (epoch)';
        else if (i % 3 === 2 && (await call('suspend master', 'PATCH', `/admin/masters/${master.id}`, { status: 'suspended' }))) masterRefused = 'master suspended';
        if (a) keys.push({ key: a.key, expect: masterRefused ? 'refused' : 'accepted', why: masterRefused ?? 'active key' });
        if (b) {
          const disabled = await call('disable key', 'PATCH', `/admin/keys/${b.id}`, { status: 'disabled' });
          if (disabled || masterRefused) keys.push({ key: b.key, expect: 'refused', why: masterRefused ?? 'key disabled' });
        }
        if (c) {
          const deleted = (await call('delete key', 'DELETE', `/admin/keys/${c.id}`)) !== undefined || calls[calls.length - 1]!.res.status === 204;
          if (deleted || masterRefused) keys.push({ key: c.key, expect: 'refused', why: masterRefused ?? 'key deleted' });
        }
      }
    })();

    await sleep(2_000);
    const callsBefore = calls.length;
    await cluster.redis.stop();
    const outageStarted = Date.now();
    await sleep(REDIS_OUTAGE_MS);
    await cluster.redis.start();
    const outageMs = Date.now() - outageStarted;
    const callsDuring = calls.length - callsBefore;
    await sleep(3_000);
    stop = true;
    await stream;

    const ok = calls.filter((c) => c.res.status >= 200 && c.res.status < 300).length;
    const unavailable = calls.filter((c) => isClear503(c.res)).length;
    console.log(`      ${calls.length} admin writes (${callsDuring} while Redis was down ${(outageMs / 1000).toFixed(1)} s): ${ok} 2xx, ${unavailable} 503; slowest ${Math.max(...calls.map((c) => c.res.ms))} ms`);
    const bad = calls.filter((c) => !(c.res.status >= 200 && c.res.status < 300) && !isClear503(c.res));
    expect(bad.slice(0, 5).map((c) => ({ what: c.what, status: c.res.status, body: c.res.body, error: c.res.error })), 'writes answering neither 2xx nor a clear 503').to.deep.equal([]);
    const slow = calls.filter((c) => c.res.ms > WRITE_BOUND_MS);
    expect(slow.map((c) => `${c.what}: ${c.res.ms} ms`), `writes slower than ${WRITE_BOUND_MS} ms`).to.deep.equal([]);
    expect(callsDuring, 'admin writes kept coming while Redis was down').to.be.at.least(10);
    expect(keys.filter((k) => k.expect === 'refused').length, 'revoked keys to check').to.be.at.least(5);

    // Drained by the running worker alone; then Redis holds exactly what PostgreSQL says.
    await cluster.waitForSync(60_000);
    const redis = cluster.redisClient;
    const pgKeys = (await cluster.knex('keys').select('id', 'key_digest', 'status')) as Array<{ id: number; key_digest: string; status: string }>;
    const pgMasters = (await cluster.knex('masters').select('id', 'status', 'epoch')) as Array<{ id: number; status: string; epoch: number }>;
    for (const row of pgKeys) {
      const record = await redis.hgetall(RedisKeys.token(row.key_digest));
      expect({ id: record.id, status: record.status }, `auth:token of key ${row.id}`).to.deep.equal({ id: String(row.id), status: row.status });
    }
    for (const row of pgMasters) {
      const record = await redis.hgetall(RedisKeys.master(row.id));
      expect({ status: record.status, epoch: record.epoch }, `auth:master:${row.id}`).to.deep.equal({ status: row.status, epoch: String(row.epoch) });
    }
    const incremental = await dumpSnapshot(redis);
    const tokenCount = Object.keys(incremental).filter((k) => k.startsWith('auth:token:')).length;
    const masterCount = Object.keys(incremental).filter((k) => k.startsWith('auth:master:')).length;
    expect({ tokens: tokenCount, masters: masterCount }, 'no record PostgreSQL does not have').to.deep.equal({ tokens: pgKeys.length, masters: pgMasters.length });

    // FLUSHALL, then a full rebuild from PostgreSQL: the same state, field for field.
    await redis.flushall();
    const snapshot = await cluster.admin<Json>('POST', '/admin/sync/snapshot', undefined, { timeoutMs: 30_000 });
    expect(snapshot.status, JSON.stringify(snapshot.body)).to.be.oneOf([200, 202]);
    await cluster.waitForSync(60_000);
    const rebuilt = withoutVolatile(await dumpSnapshot(redis));
    const before = withoutVolatile(incremental);
    // A deployment whose flags were never written has no meta:features until a rebuild writes the
    // defaults; the gateway reads both the same (absent flag = default), so compare them as such.
    before[RedisKeys.features] ??= { ...DEFAULT_FEATURES };
    const canonical = (hash: Record<string, string> | undefined) => JSON.stringify(hash && Object.entries(hash).sort(([a], [b]) => a.localeCompare(b)));
    const differing = [...new Set([...Object.keys(before), ...Object.keys(rebuilt)])].filter((k) => canonical(before[k]) !== canonical(rebuilt[k]));
    expect(
      differing.slice(0, 3).map((k) => ({ key: k, incremental: before[k], rebuilt: rebuilt[k] })),
      `${differing.length} Redis records differ between the incremental state and a rebuild from PostgreSQL`,
    ).to.deep.equal([]);

    // Every gateway: active keys pass, every revoked one is refused (polled, bounded).
    await cluster.waitForGateways();
    const verdict = async (url: string, k: IssuedKey) => {
      const deadline = Date.now() + 5_000;
      let status = 0;
      for (;;) {
        status = (await chatOnce(url, k.key, cluster.model)).status;
        const accepted = status === 200;
        if (accepted === (k.expect === 'accepted') || Date.now() > deadline) return status;
        await sleep(100);
      }
    };
    const wrong: string[] = [];
    for (const url of cluster.gatewayUrls()) {
      for (const k of keys) {
        const status = await verdict(url, k);
        if ((status === 200) !== (k.expect === 'accepted')) wrong.push(`${url} ${k.why}: ${status}`);
        else if (k.expect === 'refused') expect(status, k.why).to.be.oneOf([401, 403]);
      }
    }
    console.log(`      after the rebuild: ${keys.length} keys checked at ${cluster.gateways.length} gateways (${keys.filter((k) => k.expect === 'refused').length} revoked)`);
    expect(wrong, 'keys answered against their state').to.deep.equal([]);
  });

  it('PostgreSQL down 60 s under gateway load: ≥ 99.9 % succeed, the admin API answers 503 fast, no log is lost', async () => {
    const tenant = await cluster.seedTenant('pg-outage');
    await cluster.waitForGateways();
    const prefix = `pgout-${Date.now().toString(36)}`;
    let stopLoad = false;
    const progress = { sent: 0, answered: 0 };
    // Steady, paced load (4 connections per gateway, 20 ms between requests on each).
    const load = runLoad({ gateways: cluster.gatewayUrls(), key: tenant.key, model: cluster.model, until: () => stopLoad, concurrency: 4, intervalMs: 20, idPrefix: prefix, progress });

    await sleep(3_000);
    await cluster.pg.stop();
    const outageStarted = Date.now();
    const adminCalls: Array<{ what: string; res: AdminResponse }> = [];
    while (Date.now() - outageStarted < PG_OUTAGE_MS) {
      adminCalls.push({ what: 'GET /admin/masters', res: await cluster.admin('GET', '/admin/masters', undefined, { timeoutMs: 10_000 }) });
      adminCalls.push({ what: 'POST /admin/masters', res: await cluster.admin('POST', '/admin/masters', { name: `during-pg-outage-${adminCalls.length}` }, { timeoutMs: 10_000 }) });
      await sleep(2_000);
    }
    const answeredDuring = progress.answered;
    await cluster.pg.start();
    const outageMs = Date.now() - outageStarted;
    // The admin API is back by itself (its pool reconnects), bounded.
    const backDeadline = Date.now() + 30_000;
    let back = await cluster.admin('GET', '/admin/masters');
    while (back.status !== 200 && Date.now() < backDeadline) {
      await sleep(250);
      back = await cluster.admin('GET', '/admin/masters');
    }
    await sleep(3_000);
    stopLoad = true;
    const result = await load;

    const total = result.answered.size + result.unanswered.length;
    const succeeded = result.statuses[200] ?? 0;
    const successRate = succeeded / total;
    console.log(
      `      PG down ${(outageMs / 1000).toFixed(1)} s; ${total} requests (${answeredDuring} answered by the end of the outage), ` +
        `success ${(successRate * 100).toFixed(3)} %; statuses ${JSON.stringify(result.statuses)}, ${result.unanswered.length} unanswered; ` +
        `admin while down: ${adminCalls.length} calls, slowest ${Math.max(...adminCalls.map((c) => c.res.ms))} ms`,
    );
    expect(total, 'a real load ran through the outage').to.be.at.least(1_000);
    expect(successRate, `proxied success rate (statuses ${JSON.stringify(result.statuses)}, unanswered ${JSON.stringify(result.unanswered.slice(0, 3))})`).to.be.at.least(0.999);
    expect(back.status, 'the admin API answers again after PostgreSQL returns').to.equal(200);
    const notFast503 = adminCalls.filter((c) => !isClear503(c.res) || c.res.ms >= PG_DOWN_BOUND_MS);
    expect(notFast503.slice(0, 5).map((c) => ({ what: c.what, status: c.res.status, ms: c.res.ms, body: c.res.body, error: c.res.error })), `admin calls not answered 503 within ${PG_DOWN_BOUND_MS} ms while PostgreSQL was down`).to.deep.equal([]);
    expect(adminCalls.length, 'admin calls made during the outage').to.be.at.least(20);

    // No log lost: the logs jobs that failed while PG was down are retried with backoff (bounded).
    const deadline = Date.now() + 240_000;
    let logged = await loggedRequestIds(cluster.knex, prefix).catch(() => ({ total: -1, distinct: new Set<string>() }));
    while (logged.total < result.answered.size && Date.now() < deadline) {
      await sleep(1_000);
      logged = await loggedRequestIds(cluster.knex, prefix).catch(() => logged);
    }
    expect({ rows: logged.total, distinct: logged.distinct.size }).to.deep.equal({ rows: result.answered.size, distinct: result.answered.size });
    const missing = [...result.answered.keys()].filter((id) => !logged.distinct.has(id));
    expect(missing.slice(0, 10), `${missing.length} answered requests have no log row`).to.deep.equal([]);
  });
});
