import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  dropRequestLogPartitionsBefore,
  ensureRequestLogPartitions,
  listRequestLogPartitions,
} from '../../src/db/request-log-partitions.repository.js';
import { testEnv } from '../support/hooks.js';

/**
 * Far-away days (1999, 2091) so these tests never meet the rolling window of partitions the
 * migration and other tests create around today.
 */
describe('request log partitions', () => {
  let knex: Knex;
  const prefix = `partition-test-${randomUUID()}-`;

  async function partitionOf(requestId: string): Promise<string | undefined> {
    const { rows } = await knex.raw<{ rows: Array<{ partition: string }> }>(
      'select tableoid::regclass::text as partition from request_logs where request_id = ?',
      [requestId],
    );
    return rows[0]?.partition;
  }

  async function dropTestPartitions(): Promise<void> {
    for (const { name, day } of await listRequestLogPartitions(knex)) {
      if (day.startsWith('1999-') || day.startsWith('2091-')) await knex.raw('drop table ??', [name]);
    }
  }

  beforeEach(async () => {
    knex = testEnv().knex;
    await dropTestPartitions();
  });

  afterEach(async () => {
    await knex('request_logs').where('request_id', 'like', `${prefix}%`).delete();
    await dropTestPartitions();
  });

  it('creates one partition per UTC day and creates nothing the second time', async () => {
    const from = new Date('2091-03-01T23:30:00Z');
    expect(await ensureRequestLogPartitions(knex, { from, days: 3 })).to.equal(3);
    expect(await ensureRequestLogPartitions(knex, { from, days: 3 })).to.equal(0);
    expect(await ensureRequestLogPartitions(knex, { from, days: 4 })).to.equal(1);

    const created = (await listRequestLogPartitions(knex)).filter((p) => p.day.startsWith('2091-'));
    expect(created).to.deep.equal([
      { name: 'request_logs_p20910301', day: '2091-03-01' },
      { name: 'request_logs_p20910302', day: '2091-03-02' },
      { name: 'request_logs_p20910303', day: '2091-03-03' },
      { name: 'request_logs_p20910304', day: '2091-03-04' },
    ]);
  });

  it('lists partitions oldest first and never lists the default partition', async () => {
    const partitions = await listRequestLogPartitions(knex);
    expect(partitions.map((p) => p.name)).to.not.include('request_logs_default');
    const days = partitions.map((p) => p.day);
    expect(days).to.deep.equal([...days].sort());
    const today = new Date().toISOString().slice(0, 10);
    expect(days).to.include(today);
  });

  it('bounds each partition by UTC midnight', async () => {
    await ensureRequestLogPartitions(knex, { from: new Date('2091-03-01T00:00:00Z'), days: 1 });
    await knex('request_logs').insert([
      { request_id: `${prefix}first`, created_at: new Date('2091-03-01T00:00:00.000Z') },
      { request_id: `${prefix}last`, created_at: new Date('2091-03-01T23:59:59.999Z') },
      { request_id: `${prefix}next`, created_at: new Date('2091-03-02T00:00:00.000Z') },
    ]);
    expect(await partitionOf(`${prefix}first`)).to.equal('request_logs_p20910301');
    expect(await partitionOf(`${prefix}last`)).to.equal('request_logs_p20910301');
    expect(await partitionOf(`${prefix}next`)).to.equal('request_logs_default');
  });

  it('keeps a log row for a day without a partition in the default partition', async () => {
    const requestId = `${prefix}orphan`;
    await knex('request_logs').insert({ request_id: requestId, created_at: new Date('2091-05-10T08:00:00Z'), model: 'gpt-x' });
    expect(await partitionOf(requestId)).to.equal('request_logs_default');
  });

  it('moves rows parked in the default partition into the day partition it creates, losing none', async () => {
    const rows = [
      { request_id: `${prefix}a`, created_at: new Date('2091-05-10T00:00:00Z'), model: 'gpt-x', prompt_tokens: 7 },
      { request_id: `${prefix}b`, created_at: new Date('2091-05-10T23:59:59Z'), model: 'gpt-y', cost_actual: 0.25 },
      { request_id: `${prefix}c`, created_at: new Date('2091-05-11T12:00:00Z'), model: 'gpt-z' },
    ];
    await knex('request_logs').insert(rows);

    expect(await ensureRequestLogPartitions(knex, { from: new Date('2091-05-10T15:00:00Z'), days: 1 })).to.equal(1);

    expect(await partitionOf(`${prefix}a`)).to.equal('request_logs_p20910510');
    expect(await partitionOf(`${prefix}b`)).to.equal('request_logs_p20910510');
    expect(await partitionOf(`${prefix}c`)).to.equal('request_logs_default');
    const stored = await knex('request_logs')
      .where('request_id', 'like', `${prefix}%`)
      .orderBy('request_id')
      .select('request_id', 'created_at', 'model', 'prompt_tokens', 'cost_actual');
    expect(stored).to.deep.equal([
      { request_id: `${prefix}a`, created_at: rows[0]!.created_at, model: 'gpt-x', prompt_tokens: 7, cost_actual: 0 },
      { request_id: `${prefix}b`, created_at: rows[1]!.created_at, model: 'gpt-y', prompt_tokens: 0, cost_actual: 0.25 },
      { request_id: `${prefix}c`, created_at: rows[2]!.created_at, model: 'gpt-z', prompt_tokens: 0, cost_actual: 0 },
    ]);
  });

  it('drops only the partitions whose whole day is before the cutoff day', async () => {
    await ensureRequestLogPartitions(knex, { from: new Date('1999-01-01T00:00:00Z'), days: 3 });
    await knex('request_logs').insert({ request_id: `${prefix}old`, created_at: new Date('1998-12-31T12:00:00Z') });

    const dropped = await dropRequestLogPartitionsBefore(knex, new Date('1999-01-02T15:00:00Z'));

    expect(dropped).to.deep.equal(['request_logs_p19990101']);
    const remaining = (await listRequestLogPartitions(knex)).map((p) => p.name);
    expect(remaining).to.include.members(['request_logs_p19990102', 'request_logs_p19990103']);
    expect(remaining).to.not.include('request_logs_p19990101');
    // The default partition and its rows are left alone.
    expect(await partitionOf(`${prefix}old`)).to.equal('request_logs_default');
    expect(await dropRequestLogPartitionsBefore(knex, new Date('1999-01-02T15:00:00Z'))).to.deep.equal([]);
  });

  it('ignores a replayed log row with the same request id and timestamp', async () => {
    const row = { request_id: `${prefix}replayed`, created_at: new Date(), model: 'gpt-x', status_code: 200 };
    const first = await knex('request_logs').insert(row).onConflict(['request_id', 'created_at']).ignore().returning('request_id');
    const replay = await knex('request_logs')
      .insert({ ...row, status_code: 500 })
      .onConflict(['request_id', 'created_at'])
      .ignore()
      .returning('request_id');

    expect(first).to.have.length(1);
    expect(replay).to.have.length(0);
    const stored = await knex('request_logs').where('request_id', row.request_id).select('status_code');
    expect(stored).to.deep.equal([{ status_code: 200 }]);
  });
});
