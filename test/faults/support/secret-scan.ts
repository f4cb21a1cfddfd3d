import type { Redis } from 'ioredis';
import type { Knex } from 'knex';

/**
 * Where secrets must never be: helpers that turn every Redis value and every PostgreSQL row into
 * searchable text, and the search itself (a canary plus its encoded forms).
 */

export interface Canary {
  label: string;
  value: string;
  /** Extra forms that betray it (e.g. the random body without a display prefix, raw key bytes). */
  forms?: string[];
}

/** The canary, its base64/base64url/URL-encoded forms and any extra forms. */
export function formsOf(canary: Canary): string[] {
  const v = canary.value;
  const all = [v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('base64url'), encodeURIComponent(v), ...(canary.forms ?? [])];
  return [...new Set(all.filter((f) => f.length >= 12))];
}

/** Every place (`where`) whose text holds a form of a canary. */
export function findCanaries(canaries: Canary[], places: Array<{ where: string; text: string }>): string[] {
  const hits: string[] = [];
  for (const canary of canaries) {
    const forms = formsOf(canary);
    for (const place of places) {
      const form = forms.find((f) => place.text.includes(f));
      if (form !== undefined) {
        const at = place.text.indexOf(form);
        hits.push(`${canary.label} in ${place.where}: …${place.text.slice(Math.max(0, at - 80), at + form.length + 40)}…`);
      }
    }
  }
  return hits;
}

/** Every key of the Redis database with its value as text, except `skip`. */
export async function dumpRedis(redis: Redis, skip: (key: string) => boolean): Promise<Array<{ where: string; text: string }>> {
  const out: Array<{ where: string; text: string }> = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      if (skip(key)) continue;
      const type = await redis.type(key);
      let value: unknown;
      if (type === 'string') value = await redis.get(key);
      else if (type === 'hash') value = await redis.hgetall(key);
      else if (type === 'list') value = await redis.lrange(key, 0, -1);
      else if (type === 'set') value = await redis.smembers(key);
      else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'stream') value = await redis.xrange(key, '-', '+');
      else continue;
      out.push({ where: `redis ${type} ${key}`, text: `${key}\n${JSON.stringify(value)}` });
    }
  } while (cursor !== '0');
  return out;
}

/** Every application row as JSON text, without the columns `excluded` matches (ciphertext, nonce, digest). */
export async function dumpPostgres(knex: Knex, excluded: RegExp): Promise<Array<{ where: string; text: string }>> {
  const { rows } = await knex.raw<{ rows: Array<{ table_name: string; column_name: string }> }>(
    `select c.table_name, c.column_name from information_schema.columns c
       join pg_class k on k.relname = c.table_name and k.relkind in ('r', 'p')
       join pg_namespace n on n.oid = k.relnamespace and n.nspname = 'public'
      where c.table_schema = 'public' and not k.relispartition`,
  );
  const tables = new Map<string, string[]>();
  for (const row of rows) tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), row.column_name]);
  const out: Array<{ where: string; text: string }> = [];
  for (const [table, columns] of tables) {
    const dropped = columns.filter((c) => excluded.test(c));
    const minus = dropped.map((c) => ` - '${c}'`).join('');
    const result = await knex.raw<{ rows: Array<{ j: string }> }>(`select (to_jsonb(t)${minus})::text as j from "${table}" t`);
    out.push({ where: `postgres ${table} (without ${dropped.join(', ') || 'nothing'})`, text: result.rows.map((r) => r.j).join('\n') });
  }
  return out;
}
