import { expect } from 'chai';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, type ApiClient } from './helpers.js';

/** Data builders and ledger readers shared by the admin api tests. */

const knex = () => testEnv().knex;

// ---------------------------------------------------------------------------------------------
// Through the api (each asserts its 201)
// ---------------------------------------------------------------------------------------------

/** POST /admin/masters as the admin, named `acme` unless `body` says otherwise. */
export async function createMaster<T = { id: number; key: string }>(client: ApiClient, body: Record<string, unknown> = {}): Promise<T> {
  const res = await client.req<T>('POST', '/admin/masters', { token: ADMIN_TOKEN, body: { name: 'acme', ...body } });
  expect(res.status, res.text).to.equal(201);
  return res.body;
}

/** POST /admin/masters/:id/keys as the admin, without asserting the answer. */
export const issue = <T = { id: number; key: string }>(client: ApiClient, masterId: number, body: Record<string, unknown> = {}) =>
  client.req<T>('POST', `/admin/masters/${masterId}/keys`, { token: ADMIN_TOKEN, body: { name: 'k', ...body } });

/** {@link issue}, asserting the 201. */
export async function issueKey<T = { id: number; key: string }>(client: ApiClient, masterId: number, body: Record<string, unknown> = {}): Promise<T> {
  const res = await issue<T>(client, masterId, body);
  expect(res.status, res.text).to.equal(201);
  return res.body;
}

/** {@link createMaster}, {@link issue} and {@link issueKey} bound to one client, answering masters as `M` and keys as `K`. */
export function masterFixtures<M = { id: number; key: string }, K = { id: number; key: string }>(client: ApiClient) {
  return {
    createMaster: (body: Record<string, unknown> = {}) => createMaster<M>(client, body),
    issue: (masterId: number, body: Record<string, unknown> = {}) => issue<K>(client, masterId, body),
    issueKey: (masterId: number, body: Record<string, unknown> = {}) => issueKey<K>(client, masterId, body),
  };
}

/** POST /admin/provider-groups with the client's default credentials. */
export async function createProviderGroup<T = { id: number }>(client: ApiClient, body: Record<string, unknown>): Promise<T> {
  const res = await client.call<T>('POST', '/admin/provider-groups', body);
  expect(res.status, res.text).to.equal(201);
  return res.body;
}

// ---------------------------------------------------------------------------------------------
// Straight into the database, for resources another suite covers
// ---------------------------------------------------------------------------------------------

export async function insertProviderGroup(name: string, models: string[], options: { status?: 'active' | 'disabled'; route_group?: string } = {}): Promise<number> {
  const [row] = await knex()('provider_groups')
    .insert({ name, type: 'openai', models, ...options })
    .returning<Array<{ id: number }>>('id');
  return row!.id;
}

export async function insertApiKey(groupId: number, status: 'active' | 'disabled' | 'auto_disabled' = 'active'): Promise<number> {
  const [row] = await knex()('api_keys').insert({ group_id: groupId, status }).returning<Array<{ id: number }>>('id');
  return row!.id;
}

let digestSeq = 0;

/** A master row with a placeholder digest (no usable key). */
export async function insertMaster(fields: { name: string; namespaces?: string[]; default_namespace?: string }): Promise<number> {
  digestSeq += 1;
  const [row] = await knex()('masters')
    .insert({ ...fields, key_digest: `digest-m-${digestSeq}`, key_prefix: 'ezm_', key_last4: 'abcd' })
    .returning<Array<{ id: number }>>('id');
  return row!.id;
}

/** A child key row with a placeholder digest (no usable key). */
export async function insertKey(masterId: number, fields: { namespaces?: string[]; default_namespace?: string }): Promise<number> {
  digestSeq += 1;
  const [row] = await knex()('keys')
    .insert({ master_id: masterId, ...fields, key_digest: `digest-k-${digestSeq}`, key_prefix: 'ezk_', key_last4: 'wxyz', issued_by: 'admin' })
    .returning<Array<{ id: number }>>('id');
  return row!.id;
}

// ---------------------------------------------------------------------------------------------
// The ledger: sync outbox and audit events
// ---------------------------------------------------------------------------------------------

export interface OutboxRow {
  resource: string;
  resource_id: string | null;
  action: string;
  payload: Record<string, unknown>;
}
export type AuditRow = Record<string, unknown> & { action: string; metadata: unknown };

/** The sync outbox in order, with its payloads. */
export const outbox = async () => (await knex()('sync_outbox').select('resource', 'resource_id', 'action', 'payload').orderBy('id')) as OutboxRow[];

/** The sync outbox in order, without payloads. */
export const outboxEntries = async () =>
  (await knex()('sync_outbox').select('resource', 'resource_id', 'action').orderBy('id')) as Array<Omit<OutboxRow, 'payload'>>;

/** Every audit event, oldest first. */
export const audits = async () => (await knex()('audit_events').select('*').orderBy('id')) as AuditRow[];

/** Empties the outbox and the audit log, so a test sees only what comes next. */
export async function clearLedger(): Promise<void> {
  await knex()('sync_outbox').delete();
  await knex()('audit_events').delete();
}
