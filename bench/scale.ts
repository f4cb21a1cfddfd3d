/**
 * `npm run bench -- scale`: a gateway's start-up time (process spawn → ready) and resident memory
 * with 100,000 child keys and 1,000 upstream keys configured. The rows are seeded into PostgreSQL in
 * bulk with SQL (digests from the real src/lib/key-digest.ts, secrets sealed by the real SecretBox),
 * then `POST /admin/sync/snapshot` has the worker rebuild Redis from them, as an operator restoring
 * a large installation would. A fresh gateway is then spawned and timed, and serves requests with
 * thousands of distinct keys so its key cache fills before memory is read again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { describeSecret } from '../src/domain/client-keys.js';
import { KeyDigester } from '../src/lib/key-digest.js';
import { SecretBox } from '../src/lib/secret-box.js';
import { benchEnv, chatBody, type BenchEnv, type GatewayHandle } from './env.js';
import { procMemoryMB } from './processes.js';
import { count, ms, table, type ScenarioReport } from './report.js';

/** DESIGN §10. */
export const RSS_TARGET_MB = 200;
export const STARTUP_TARGET_MS = 3_000;
const SCALE_MODEL = 'scale-model';
const KEY_CHUNK = 10_000;

/** The deterministic plaintext of seeded child key `i` (same length as a real `ezk_` key). */
export function scaleKey(i: number): string {
  return `ezk_scale${String(i).padStart(8, '0')}${'Q'.repeat(30)}`;
}

interface Seeded {
  masters: number;
  keys: number;
  groups: number;
  apiKeys: number;
  seedMs: number;
}

async function seed(env: BenchEnv, sizes: { masters: number; keys: number; groups: number; apiKeys: number }): Promise<Seeded> {
  const started = performance.now();
  const digester = new KeyDigester(env.secret);
  const box = new SecretBox(env.secret);
  await env.knex.transaction(async (trx: Knex.Transaction) => {
    const masters = Array.from({ length: sizes.masters }, (_, i) => ({ name: `scale-m${i}`, secret: describeSecret(`ezm_scale${String(i).padStart(8, '0')}${'M'.repeat(30)}`, digester) }));
    const { rows: masterRows } = await trx.raw<{ rows: Array<{ id: string; name: string }> }>(
      `insert into masters (name, "group", global_qps, max_child_keys, key_digest, key_prefix, key_last4)
       select n, 'scale', 0, 100000, d, p, l from unnest(?::text[], ?::text[], ?::text[], ?::text[]) as t(n, d, p, l)
       returning id, name`,
      [masters.map((m) => m.name), masters.map((m) => m.secret.digest), masters.map((m) => m.secret.prefix), masters.map((m) => m.secret.last4)],
    );
    const masterIds = new Map(masterRows.map((r) => [r.name, Number(r.id)]));
    const masterIdOf = (i: number) => masterIds.get(`scale-m${i % sizes.masters}`)!;

    for (let from = 0; from < sizes.keys; from += KEY_CHUNK) {
      const n = Math.min(KEY_CHUNK, sizes.keys - from);
      const ids: number[] = [];
      const digests: string[] = [];
      const prefixes: string[] = [];
      const last4s: string[] = [];
      for (let i = from; i < from + n; i++) {
        const secret = describeSecret(scaleKey(i), digester);
        ids.push(masterIdOf(i));
        digests.push(secret.digest);
        prefixes.push(secret.prefix);
        last4s.push(secret.last4);
      }
      await trx.raw(
        `insert into keys (master_id, key_digest, key_prefix, key_last4, issued_by, scopes, rpm_limit, tpm_limit)
         select m, d, p, l, 'admin', '{*}', 600, 1000000 from unnest(?::bigint[], ?::text[], ?::text[], ?::text[]) as t(m, d, p, l)`,
        [ids, digests, prefixes, last4s],
      );
    }

    const groupNames = Array.from({ length: sizes.groups }, (_, i) => `scale-g${i}`);
    const { rows: groupRows } = await trx.raw<{ rows: Array<{ id: string }> }>(
      `insert into provider_groups (name, type, route_group, base_url, models)
       select n, 'openai', 'scale', ?, ?::text[] from unnest(?::text[]) as t(n) returning id`,
      [`${env.mock.url}/v1`, [SCALE_MODEL, `${SCALE_MODEL}-alt`], groupNames],
    );
    const groupIds = groupRows.map((r) => Number(r.id));
    const { rows: idRows } = await trx.raw<{ rows: Array<{ id: string }> }>(`select nextval('api_keys_id_seq') as id from generate_series(1, ?)`, [sizes.apiKeys]);
    const apiKeyIds = idRows.map((r) => Number(r.id));
    const sealed = apiKeyIds.map((id) => box.seal(`sk-scale-${id}-${'k'.repeat(40)}`, SecretBox.aad('api_keys', id, 'secret')));
    await trx.raw(
      `insert into api_keys (id, group_id, name, secret_ciphertext, secret_nonce, key_version)
       select i, g, 'scale', c, n, v from unnest(?::bigint[], ?::bigint[], ?::bytea[], ?::bytea[], ?::int[]) as t(i, g, c, n, v)`,
      [apiKeyIds, apiKeyIds.map((_, i) => groupIds[i % groupIds.length]!), sealed.map((s) => s.ciphertext), sealed.map((s) => s.nonce), sealed.map((s) => s.keyVersion)],
    );
  });
  await env.knex.raw('analyze masters, keys, provider_groups, api_keys');
  return { ...sizes, seedMs: performance.now() - started };
}

/**
 * Ready = `GET /health/ready` answers 200; a gateway without that route counts as ready once
 * `/health` answers 200 with the current config version and every upstream key loaded.
 */
async function isReady(url: string, expected: { version: number; providers: number }, state: { noReadyRoute: boolean }): Promise<boolean> {
  try {
    if (!state.noReadyRoute) {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 404) state.noReadyRoute = true;
      else return res.status === 200;
    }
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    if (res.status !== 200) return false;
    const body = (await res.json()) as { loaded_config_version?: number; providers?: number };
    return (body.loaded_config_version ?? 0) >= expected.version && (body.providers ?? 0) >= expected.providers;
  } catch {
    return false;
  }
}

async function timeStartup(env: BenchEnv, expected: { version: number; providers: number }): Promise<{ gateway: GatewayHandle; startupMs: number; readyRoute: boolean }> {
  const started = performance.now();
  const gateway = await env.spawnGateway('gateway-scale');
  const state = { noReadyRoute: false };
  const deadline = started + 60_000;
  while (!(await isReady(gateway.url, expected, state))) {
    if (gateway.proc.child.exitCode !== null) throw new Error(`the scale gateway exited:\n${gateway.proc.output().slice(-3000)}`);
    if (performance.now() > deadline) throw new Error(`the scale gateway was not ready within 60 s:\n${gateway.proc.output().slice(-3000)}`);
    await sleep(5);
  }
  return { gateway, startupMs: performance.now() - started, readyRoute: !state.noReadyRoute };
}

/** One request per distinct seeded key (bounded concurrency); every one must be served. */
async function trafficOverKeys(gateway: GatewayHandle, keys: number, distinct: number): Promise<void> {
  let next = 0;
  const stride = Math.max(1, Math.floor(keys / distinct));
  const worker = async () => {
    while (next < distinct) {
      const i = (next++ * stride) % keys;
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${scaleKey(i)}` },
        body: chatBody(SCALE_MODEL, false),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`seeded key ${i} was answered ${res.status}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

export async function measureScale(): Promise<ScenarioReport> {
  const env = await benchEnv();
  await env.mock.configure({ delayMs: 0, chunks: 10, chunkIntervalMs: 0 });
  const sizes = { masters: count(1_000, 50), keys: count(100_000, 5_000), groups: count(50, 5), apiKeys: count(1_000, 100) };
  const seeded = await seed(env, sizes);

  const snapshotStarted = performance.now();
  const snapshot = await env.admin.call<{ status: string; applied_version: number | null }>('POST', '/admin/sync/snapshot?wait_ms=60000');
  if (snapshot.status !== 200 || snapshot.body.status !== 'done') throw new Error(`the snapshot was not applied within 60 s: ${JSON.stringify(snapshot.body)}`);
  const version = await env.waitForConfig([], 60_000);
  const snapshotMs = performance.now() - snapshotStarted;

  const { gateway, startupMs, readyRoute } = await timeStartup(env, { version, providers: sizes.apiKeys });
  try {
    const atReady = procMemoryMB(gateway.proc.pid);
    const distinct = count(5_000, 200);
    const trafficStarted = performance.now();
    await trafficOverKeys(gateway, sizes.keys, distinct);
    const trafficMs = performance.now() - trafficStarted;
    await sleep(500);
    const afterTraffic = procMemoryMB(gateway.proc.pid);
    const reference = procMemoryMB(env.gateway.proc.pid);
    const worst = Math.max(atReady.rss, afterTraffic.rss);
    const body = [
      table(
        ['child keys', 'masters', 'upstream keys', 'provider groups', 'seed (SQL) s', 'snapshot → Redis s', 'start-up ms', 'RSS at ready MB', 'RSS after traffic MB', 'peak RSS MB'],
        [
          [
            String(seeded.keys),
            String(seeded.masters),
            String(seeded.apiKeys),
            String(seeded.groups),
            (seeded.seedMs / 1_000).toFixed(1),
            (snapshotMs / 1_000).toFixed(1),
            startupMs.toFixed(0),
            atReady.rss.toFixed(1),
            afterTraffic.rss.toFixed(1),
            afterTraffic.peak.toFixed(1),
          ],
        ],
      ),
      '',
      `Start-up: spawning the gateway process → ${readyRoute ? '`GET /health/ready` answers 200' : '`GET /health` answers 200 with the current config version and every upstream key loaded (this gateway has no `/health/ready`)'}, polled every 5 ms.`,
      `"After traffic": ${distinct} requests, each with a different seeded child key (so the key cache holds ${distinct} records), served in ${(trafficMs / 1_000).toFixed(1)} s.`,
      `For comparison, the gateway that served the other scenarios (small config, after their load): RSS ${reference.rss.toFixed(1)} MB, peak ${reference.peak.toFixed(1)} MB.`,
    ].join('\n');
    return {
      body,
      verdicts: [
        { figure: `gateway RSS with ${seeded.keys} child keys and ${seeded.apiKeys} upstream keys (larger of at ready, after traffic)`, measured: `${worst.toFixed(1)} MB`, target: `≤ ${RSS_TARGET_MB} MB`, pass: worst <= RSS_TARGET_MB },
        { figure: 'gateway peak RSS (VmHWM, start-up included)', measured: `${afterTraffic.peak.toFixed(1)} MB`, target: 'context', pass: null },
        { figure: 'gateway start-up (spawn → ready)', measured: ms(startupMs, 0), target: `≤ ${ms(STARTUP_TARGET_MS, 0)}`, pass: startupMs <= STARTUP_TARGET_MS },
      ],
    };
  } finally {
    await gateway.proc.stop();
  }
}
