import type { Knex } from 'knex';

/** SQL for `alerts`. The alerts issue grows this; the control plane only raises deduplicated alerts. */

export interface RaiseAlert {
  type: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  message: string;
  /** Same fingerprint + still active → the existing alert's count and last_seen_at move instead. */
  fingerprint: string;
  related_type?: string;
  related_id?: string;
  metadata?: Record<string, unknown>;
}

export async function raiseAlert(knex: Knex, alert: RaiseAlert): Promise<void> {
  await knex.transaction(async (trx) => {
    const existing = (await trx('alerts')
      .select('id')
      .where({ fingerprint: alert.fingerprint })
      .whereIn('status', ['active', 'acknowledged'])
      .forUpdate()
      .first()) as { id: number } | undefined;
    if (existing) {
      await trx('alerts')
        .where('id', existing.id)
        .update({
          count: trx.raw('count + 1'),
          last_seen_at: trx.fn.now(),
          updated_at: trx.fn.now(),
          message: alert.message,
          metadata: JSON.stringify(alert.metadata ?? {}),
        });
      return;
    }
    await trx('alerts').insert({
      type: alert.type,
      severity: alert.severity,
      title: alert.title,
      message: alert.message,
      fingerprint: alert.fingerprint,
      related_type: alert.related_type ?? null,
      related_id: alert.related_id ?? null,
      metadata: JSON.stringify(alert.metadata ?? {}),
    });
  });
}
