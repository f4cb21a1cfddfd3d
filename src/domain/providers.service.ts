import type { Knex } from 'knex';
import {
  deleteApiKey,
  findApiKey,
  insertApiKey,
  listApiKeys,
  nextApiKeyId,
  updateApiKey,
  type ApiKeyFilters,
  type ApiKeyRow,
  type ApiKeyStatus,
  type ApiKeyValues,
} from '../db/api-keys.repository.js';
import {
  deleteProviderGroup,
  findProviderGroup,
  insertProviderGroup,
  isDuplicateGroupName,
  listProviderGroups,
  lockProviderGroup,
  updateProviderGroup,
  type Page,
  type ProviderGroupFilters,
  type ProviderGroupRow,
  type ProviderGroupValues,
  type ProviderGroupWithCount,
} from '../db/provider-groups.repository.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../lib/errors.js';
import { maskSecret, SecretBox } from '../lib/secret-box.js';
import {
  BASE_URL_REQUIRED_TYPES,
  DEFAULT_GOOGLE_LOCATION,
  GOOGLE_FIELD_TYPES,
  OAUTH_TYPES,
  PROVIDER_PRESETS,
  VERTEX_TYPES,
  type PresetName,
  type ProviderType,
} from './provider-presets.js';
import { DEFAULT_PRICE_TABLE } from './pricing/price-table.js';
import { applyPriceTable } from './pricing/price-table.service.js';
import { write, type WriteContext, type WriteDeps, type WriteUnit } from './write-context.js';

/**
 * Provider groups, their upstream api keys, and the preset/custom shortcuts (DESIGN §4, §7).
 *
 * Secrets: an upstream key is sealed with SecretBox under AAD `api_keys:<id>:secret` (refresh
 * tokens under `api_keys:<id>:refresh_token`); the id is reserved with nextval first, so the row
 * is written once, already encrypted. Nothing derived from the plaintext is stored: the masked form
 * (`sk-a…wxyz`) is computed by decrypting when a DTO is built, so no column holds a prefix/suffix
 * of the secret. The plaintext leaves the server only through `revealApiKey`, which writes an
 * `api_key.reveal` audit event in the same transaction. Audit metadata never carries a secret (nor
 * a base_url, whose path may embed a token).
 *
 * Every write records one `{ resource: 'routing', action: 'upsert' }` outbox change, since the
 * sync worker recomputes the routing projection from PostgreSQL. The reveal writes only its audit
 * event: it changes nothing the gateway reads.
 */

/** What reads need: the database and the box that opens secrets for masking. */
export interface ProvidersRead {
  knex: Knex;
  box: SecretBox;
}

/** What writes need: the write plumbing (src/domain/write-context.ts), who is writing, and the box. */
export interface ProvidersWrite {
  deps: WriteDeps;
  ctx: WriteContext;
  box: SecretBox;
}

export interface Paged<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number };
}

// ---------------------------------------------------------------------------------------------
// DTOs
// ---------------------------------------------------------------------------------------------

export type ProviderGroupDto = ProviderGroupWithCount;

export type SecretState = 'ok' | 'missing' | 'undecryptable';

export interface ApiKeyDto {
  id: number;
  group_id: number;
  name: string;
  /** `sk-a…wxyz` (or `****` for short secrets); null when there is no secret or it cannot be opened. */
  api_key_masked: string | null;
  secret_state: SecretState;
  has_refresh_token: boolean;
  weight: number;
  /** Actual cost = list cost × this (docs/pricing.md). */
  rate_multiplier: number;
  status: ApiKeyStatus;
  auto_ban: boolean;
  ban_reason: string | null;
  ban_until: Date | null;
  request_count: number;
  success_count: number;
  failure_count: number;
  token_count: number;
  last_used_at: Date | null;
  access_token_expires_at: Date | null;
  account_id: string | null;
  last_refresh_at: Date | null;
  refresh_error: string | null;
  refresh_failure_count: number;
  created_at: Date;
  updated_at: Date;
}

export const secretAad = (id: number): string => SecretBox.aad('api_keys', id, 'secret');
export const refreshTokenAad = (id: number): string => SecretBox.aad('api_keys', id, 'refresh_token');

type Opened = { state: 'ok'; value: string } | { state: 'missing' } | { state: 'undecryptable' };

function openSecret(box: SecretBox, row: ApiKeyRow): Opened {
  if (!row.secret_ciphertext || !row.secret_nonce) return { state: 'missing' };
  try {
    const value = box.open({ ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version }, secretAad(row.id));
    return { state: 'ok', value };
  } catch {
    // Wrong EZ_SECRET, or a ciphertext moved between rows: show the state, never fail the list.
    return { state: 'undecryptable' };
  }
}

/** Column by column, so a column added later is not published by accident. */
function groupDto(row: ProviderGroupRow, apiKeyCount: number): ProviderGroupDto {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    route_group: row.route_group,
    base_url: row.base_url,
    google_project: row.google_project,
    google_location: row.google_location,
    models: row.models,
    status: row.status,
    connect_timeout_ms: row.connect_timeout_ms,
    first_byte_timeout_ms: row.first_byte_timeout_ms,
    idle_timeout_ms: row.idle_timeout_ms,
    request_timeout_ms: row.request_timeout_ms,
    api_key_count: apiKeyCount,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function apiKeyDto(box: SecretBox, row: ApiKeyRow): ApiKeyDto {
  const opened = openSecret(box, row);
  return {
    id: row.id,
    group_id: row.group_id,
    name: row.name,
    api_key_masked: opened.state === 'ok' ? maskSecret(opened.value) : null,
    secret_state: opened.state,
    has_refresh_token: row.refresh_token_ciphertext !== null,
    weight: row.weight,
    rate_multiplier: Number(row.rate_multiplier),
    status: row.status,
    auto_ban: row.auto_ban,
    ban_reason: row.ban_reason,
    ban_until: row.ban_until,
    request_count: row.request_count,
    success_count: row.success_count,
    failure_count: row.failure_count,
    token_count: row.token_count,
    last_used_at: row.last_used_at,
    access_token_expires_at: row.access_token_expires_at,
    account_id: row.account_id,
    last_refresh_at: row.last_refresh_at,
    refresh_error: row.refresh_error,
    refresh_failure_count: row.refresh_failure_count,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

// ---------------------------------------------------------------------------------------------
// Group shape: the cross-field rules of a provider group (pure)
// ---------------------------------------------------------------------------------------------

export interface GroupShape {
  type: ProviderType;
  base_url: string | null;
  google_project: string | null;
  google_location: string | null;
}

/**
 * Applies the per-type rules to a group's endpoint fields: base_url required for openai,
 * compatible, anthropic and claude (NULL = the type's built-in endpoint otherwise); Google fields
 * only on Google/Code Assist types (explicitly given ones are refused elsewhere, stored ones are
 * cleared when the type changes); `vertex` needs a project; Vertex types default location `global`.
 * `given` names the fields the request set to a non-null value.
 */
export function resolveGroupShape(next: GroupShape, given: ReadonlySet<'google_project' | 'google_location'>): { shape: GroupShape; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const shape = { ...next };
  if (BASE_URL_REQUIRED_TYPES.has(shape.type) && !shape.base_url) {
    errors.push({ field: 'body.base_url', message: `base_url is required for type "${shape.type}"` });
  }
  if (!GOOGLE_FIELD_TYPES.has(shape.type)) {
    for (const field of ['google_project', 'google_location'] as const) {
      if (given.has(field)) errors.push({ field: `body.${field}`, message: `${field} applies only to Google types, not "${shape.type}"` });
      shape[field] = null;
    }
  }
  if (shape.type === 'vertex' && !shape.google_project) {
    errors.push({ field: 'body.google_project', message: 'google_project is required for type "vertex"' });
  }
  if (VERTEX_TYPES.has(shape.type) && !shape.google_location) shape.google_location = DEFAULT_GOOGLE_LOCATION;
  return { shape, errors };
}

const nonNull = <K extends string>(input: Partial<Record<K, unknown>>, keys: readonly K[]): Set<K> =>
  new Set(keys.filter((k) => input[k] !== undefined && input[k] !== null));

function duplicateName(err: unknown, name: string, field = 'body.name'): unknown {
  if (!isDuplicateGroupName(err)) return err;
  const message = `A provider group named "${name}" already exists`;
  return new ConflictError(message, [{ field, message }]);
}

// ---------------------------------------------------------------------------------------------
// Provider groups
// ---------------------------------------------------------------------------------------------

export interface GroupTimeouts {
  connect_timeout_ms?: number | null;
  first_byte_timeout_ms?: number | null;
  idle_timeout_ms?: number | null;
  request_timeout_ms?: number | null;
}

export interface CreateGroupInput extends GroupTimeouts {
  name: string;
  type: ProviderType;
  route_group: string;
  base_url?: string | null;
  google_project?: string | null;
  google_location?: string | null;
  models: string[];
  status: 'active' | 'disabled';
}

export type UpdateGroupInput = Partial<CreateGroupInput>;

const GOOGLE_FIELDS = ['google_project', 'google_location'] as const;

export async function listGroups(read: ProvidersRead, filters: ProviderGroupFilters, page: Page): Promise<Paged<ProviderGroupDto>> {
  const { rows, total } = await listProviderGroups(read.knex, filters, page);
  return { data: rows.map((r) => groupDto(r, r.api_key_count)), pagination: { ...page, total } };
}

export async function getGroup(read: ProvidersRead, id: number): Promise<ProviderGroupDto> {
  const row = await findProviderGroup(read.knex, id);
  if (!row) throw new NotFoundError('provider group', id);
  return groupDto(row, row.api_key_count);
}

function groupValues(input: CreateGroupInput): ProviderGroupValues {
  const { shape, errors } = resolveGroupShape(
    { type: input.type, base_url: input.base_url ?? null, google_project: input.google_project ?? null, google_location: input.google_location ?? null },
    nonNull(input, GOOGLE_FIELDS),
  );
  if (errors.length) throw new ValidationError('Request validation failed', errors);
  return {
    name: input.name,
    type: shape.type,
    route_group: input.route_group,
    base_url: shape.base_url,
    google_project: shape.google_project,
    google_location: shape.google_location,
    models: input.models,
    status: input.status,
    connect_timeout_ms: input.connect_timeout_ms ?? null,
    first_byte_timeout_ms: input.first_byte_timeout_ms ?? null,
    idle_timeout_ms: input.idle_timeout_ms ?? null,
    request_timeout_ms: input.request_timeout_ms ?? null,
  };
}

async function insertGroup(trx: Knex.Transaction, values: ProviderGroupValues): Promise<ProviderGroupRow> {
  try {
    return await insertProviderGroup(trx, values);
  } catch (err) {
    throw duplicateName(err, values.name);
  }
}

export async function createGroup(w: ProvidersWrite, input: CreateGroupInput): Promise<ProviderGroupDto> {
  const values = groupValues(input);
  return write(w.deps, w.ctx, async (unit) => {
    const row = await insertGroup(unit.trx, values);
    await unit.audit('provider_group.create', { type: 'provider_group', id: row.id }, { name: row.name, type: row.type, route_group: row.route_group });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return groupDto(row, 0);
  });
}

export async function updateGroup(w: ProvidersWrite, id: number, patch: UpdateGroupInput): Promise<ProviderGroupDto> {
  return write(w.deps, w.ctx, async (unit) => {
    const current = await lockProviderGroup(unit.trx, id);
    if (!current) throw new NotFoundError('provider group', id);
    const pick = <K extends keyof GroupShape>(k: K): GroupShape[K] => (patch[k] === undefined ? current[k] : (patch[k] as GroupShape[K]));
    const { shape, errors } = resolveGroupShape(
      { type: pick('type'), base_url: pick('base_url'), google_project: pick('google_project'), google_location: pick('google_location') },
      nonNull(patch, GOOGLE_FIELDS),
    );
    if (errors.length) throw new ValidationError('Request validation failed', errors);
    const values: Partial<ProviderGroupValues> = { ...definedOnly(patch), ...shape };
    let row: ProviderGroupRow;
    try {
      row = await updateProviderGroup(unit.trx, id, values);
    } catch (err) {
      throw duplicateName(err, patch.name ?? current.name);
    }
    await unit.audit('provider_group.update', { type: 'provider_group', id }, { name: row.name, changed: Object.keys(definedOnly(patch)).sort() });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    const counted = await findProviderGroup(unit.trx, id);
    return groupDto(row, counted?.api_key_count ?? 0);
  });
}

/** Deletes a group and (by cascade) its upstream keys. */
export async function deleteGroup(w: ProvidersWrite, id: number): Promise<void> {
  await write(w.deps, w.ctx, async (unit) => {
    const deleted = await deleteProviderGroup(unit.trx, id);
    if (!deleted) throw new NotFoundError('provider group', id);
    await unit.audit('provider_group.delete', { type: 'provider_group', id }, { name: deleted.row.name, api_keys_deleted: deleted.apiKeyCount });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}

function definedOnly<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------
// Upstream api keys
// ---------------------------------------------------------------------------------------------

/** Statuses an admin may set; `auto_disabled` is the gateway's verdict (auto-ban), only cleared. */
export type AdminApiKeyStatus = Exclude<ApiKeyStatus, 'auto_disabled'>;

export interface CreateApiKeyInput {
  group_id: number;
  name: string;
  api_key?: string;
  refresh_token?: string;
  /** ISO 8601; OAuth types only. */
  access_token_expires_at?: string | null;
  account_id?: string | null;
  weight: number;
  /** Default 1 (the column default). */
  rate_multiplier?: number;
  status: AdminApiKeyStatus;
  auto_ban: boolean;
}

export interface UpdateApiKeyInput {
  name?: string;
  api_key?: string;
  refresh_token?: string;
  access_token_expires_at?: string | null;
  account_id?: string | null;
  weight?: number;
  rate_multiplier?: number;
  status?: AdminApiKeyStatus;
  auto_ban?: boolean;
  /** Only `null`: clears a ban (ban_until and ban_reason), and lifts `auto_disabled` to `active`. */
  ban_until?: null;
}

export async function listApiKeysPage(read: ProvidersRead, filters: ApiKeyFilters, page: Page): Promise<Paged<ApiKeyDto>> {
  const { rows, total } = await listApiKeys(read.knex, filters, page);
  return { data: rows.map((r) => apiKeyDto(read.box, r)), pagination: { ...page, total } };
}

export async function getApiKey(read: ProvidersRead, id: number): Promise<ApiKeyDto> {
  const row = await findApiKey(read.knex, id);
  if (!row) throw new NotFoundError('api key', id);
  return apiKeyDto(read.box, row);
}

/** The credential rules: a secret is required, except that OAuth types may give a refresh token instead. */
function credentialErrors(type: ProviderType, input: { api_key?: string; refresh_token?: string } & OAuthKeyInput, creating: boolean): FieldError[] {
  const oauth = OAUTH_TYPES.has(type);
  for (const field of ['access_token_expires_at', 'account_id'] as const) {
    if (input[field] !== undefined && input[field] !== null && !oauth) {
      return [{ field: `body.${field}`, message: `${field} applies only to OAuth types (codex, claude-code, gemini-cli, antigravity), not "${type}"` }];
    }
  }
  if (input.refresh_token !== undefined && !oauth) {
    return [{ field: 'body.refresh_token', message: `refresh_token applies only to OAuth types (codex, claude-code, gemini-cli, antigravity), not "${type}"` }];
  }
  if (creating && input.api_key === undefined && input.refresh_token === undefined) {
    return [{ field: 'body.api_key', message: oauth ? 'api_key or refresh_token is required' : 'api_key is required' }];
  }
  return [];
}

interface OAuthKeyInput {
  access_token_expires_at?: string | null;
  account_id?: string | null;
  refresh_token?: string;
}

/** The OAuth columns an admin write sets; a new refresh token also clears the last refresh failure. */
function oauthKeyValues(input: OAuthKeyInput): Partial<ApiKeyValues> {
  return {
    ...(input.access_token_expires_at !== undefined
      ? { access_token_expires_at: input.access_token_expires_at === null ? null : new Date(input.access_token_expires_at) }
      : {}),
    ...(input.account_id !== undefined ? { account_id: input.account_id } : {}),
    ...(input.refresh_token !== undefined ? { refresh_error: null, refresh_failure_count: 0 } : {}),
  };
}

function sealSecret(box: SecretBox, id: number, secret: string): Pick<ApiKeyValues, 'secret_ciphertext' | 'secret_nonce' | 'key_version'> {
  const sealed = box.seal(secret, secretAad(id));
  return { secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion };
}

function sealRefreshToken(box: SecretBox, id: number, token: string): Pick<ApiKeyValues, 'refresh_token_ciphertext' | 'refresh_token_nonce'> {
  // Both secrets of a row share key_version: SecretBox seals with the current version only.
  const sealed = box.seal(token, refreshTokenAad(id));
  return { refresh_token_ciphertext: sealed.ciphertext, refresh_token_nonce: sealed.nonce };
}

/** Inserts one sealed key row into `group` (already checked to exist) inside the caller's transaction. */
async function insertSealedKey(unit: WriteUnit, box: SecretBox, group: { id: number; type: ProviderType }, input: Omit<CreateApiKeyInput, 'group_id'>): Promise<ApiKeyRow> {
  const id = await nextApiKeyId(unit.trx);
  const values: ApiKeyValues = {
    group_id: group.id,
    name: input.name,
    secret_ciphertext: null,
    secret_nonce: null,
    key_version: 1,
    weight: input.weight,
    ...(input.rate_multiplier !== undefined ? { rate_multiplier: input.rate_multiplier } : {}),
    status: input.status,
    auto_ban: input.auto_ban,
    ban_reason: null,
    ban_until: null,
    refresh_token_ciphertext: null,
    refresh_token_nonce: null,
    ...(input.api_key !== undefined ? sealSecret(box, id, input.api_key) : {}),
    ...(input.refresh_token !== undefined ? sealRefreshToken(box, id, input.refresh_token) : {}),
    ...oauthKeyValues(input),
  };
  return insertApiKey(unit.trx, id, values);
}

export async function createApiKey(w: ProvidersWrite, input: CreateApiKeyInput): Promise<ApiKeyDto> {
  return write(w.deps, w.ctx, async (unit) => {
    const group = await findProviderGroup(unit.trx, input.group_id);
    if (!group) throw new ValidationError('Request validation failed', [{ field: 'body.group_id', message: `provider group ${input.group_id} does not exist` }]);
    const errors = credentialErrors(group.type, input, true);
    if (errors.length) throw new ValidationError('Request validation failed', errors);
    const row = await insertSealedKey(unit, w.box, group, input);
    await unit.audit('api_key.create', { type: 'api_key', id: row.id }, { group_id: row.group_id, name: row.name, weight: row.weight, status: row.status });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return apiKeyDto(w.box, row);
  });
}

export async function updateApiKeyById(w: ProvidersWrite, id: number, patch: UpdateApiKeyInput): Promise<ApiKeyDto> {
  return write(w.deps, w.ctx, async (unit) => {
    const current = await findApiKey(unit.trx, id, { forUpdate: true });
    if (!current) throw new NotFoundError('api key', id);
    const group = await findProviderGroup(unit.trx, current.group_id);
    const errors = credentialErrors(group!.type, patch, false);
    if (errors.length) throw new ValidationError('Request validation failed', errors);
    const values: Partial<ApiKeyValues> = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.weight !== undefined ? { weight: patch.weight } : {}),
      ...(patch.rate_multiplier !== undefined ? { rate_multiplier: patch.rate_multiplier } : {}),
      ...(patch.auto_ban !== undefined ? { auto_ban: patch.auto_ban } : {}),
      ...(patch.api_key !== undefined ? sealSecret(w.box, id, patch.api_key) : {}),
      ...(patch.refresh_token !== undefined ? sealRefreshToken(w.box, id, patch.refresh_token) : {}),
      ...oauthKeyValues(patch),
      ...banChange(current, patch),
    };
    const row = await updateApiKey(unit.trx, id, values);
    const changed = Object.keys(definedOnly(patch)).map((k) => (k === 'api_key' ? 'secret' : k)).sort();
    await unit.audit('api_key.update', { type: 'api_key', id }, { group_id: row.group_id, changed });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return apiKeyDto(w.box, row);
  });
}

/**
 * Status and ban: setting `status: 'active'` re-enables the key and clears any ban; `ban_until: null`
 * clears the ban and lifts `auto_disabled` back to `active` (unless the same request sets a status).
 */
function banChange(current: ApiKeyRow, patch: UpdateApiKeyInput): Partial<ApiKeyValues> {
  const clearBan = patch.ban_until === null || patch.status === 'active';
  const out: Partial<ApiKeyValues> = clearBan ? { ban_until: null, ban_reason: null } : {};
  if (patch.status !== undefined) out.status = patch.status;
  else if (patch.ban_until === null && current.status === 'auto_disabled') out.status = 'active';
  return out;
}

export async function deleteApiKeyById(w: ProvidersWrite, id: number): Promise<void> {
  await write(w.deps, w.ctx, async (unit) => {
    const row = await deleteApiKey(unit.trx, id);
    if (!row) throw new NotFoundError('api key', id);
    await unit.audit('api_key.delete', { type: 'api_key', id }, { group_id: row.group_id, name: row.name });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}

export interface RevealedApiKey {
  id: number;
  group_id: number;
  api_key: string;
}

/**
 * The one place an upstream secret leaves the server in plaintext. The audit event is written in
 * the same transaction, before the secret is returned: no audit row, no secret.
 */
export async function revealApiKey(w: ProvidersWrite, id: number): Promise<RevealedApiKey> {
  return write(w.deps, w.ctx, async (unit) => {
    const row = await findApiKey(unit.trx, id);
    if (!row) throw new NotFoundError('api key', id);
    const opened = openSecret(w.box, row);
    if (opened.state === 'missing') throw new ConflictError(`api key ${id} has no secret yet (an OAuth key that has not been refreshed)`);
    if (opened.state === 'undecryptable') throw new ConflictError(`api key ${id} cannot be decrypted with the current EZ_SECRET`);
    await unit.audit('api_key.reveal', { type: 'api_key', id }, { group_id: row.group_id });
    return { id: row.id, group_id: row.group_id, api_key: opened.value };
  });
}

// ---------------------------------------------------------------------------------------------
// Preset and custom providers: a group and its first key in one transaction
// ---------------------------------------------------------------------------------------------

export interface PresetInput {
  preset: PresetName;
  name?: string;
  api_key: string;
  route_group: string;
  models?: string[];
  rate_multiplier?: number;
}

export interface CustomInput {
  name: string;
  base_url: string;
  api_key: string;
  models: string[];
  route_group: string;
  rate_multiplier?: number;
}

export interface ProviderCreated {
  group: ProviderGroupDto;
  api_key: ApiKeyDto;
}

const FIRST_KEY = { name: '', weight: 1, status: 'active', auto_ban: true } as const;

async function createWithKey(
  w: ProvidersWrite,
  values: ProviderGroupValues,
  apiKey: string,
  audit: { action: 'provider.preset' | 'provider.custom'; metadata: Record<string, unknown> },
  extras: { rateMultiplier?: number | undefined; seedModels?: readonly string[] } = {},
): Promise<ProviderCreated> {
  return write(w.deps, w.ctx, async (unit) => {
    const group = await insertGroup(unit.trx, values);
    const key = await insertSealedKey(unit, w.box, group, { ...FIRST_KEY, api_key: apiKey, rate_multiplier: extras.rateMultiplier ?? 1 });
    // Presets price their models from the shipped table in the same write (never over admin prices).
    if (extras.seedModels) await applyPriceTable(unit.trx, DEFAULT_PRICE_TABLE, { only: extras.seedModels });
    await unit.audit(audit.action, { type: 'provider_group', id: group.id }, { ...audit.metadata, name: group.name, api_key_id: key.id });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return { group: groupDto(group, 1), api_key: apiKeyDto(w.box, key) };
  });
}

/** `POST /admin/providers/preset`: the official endpoint and a starter model list. The group is named after the preset unless `name` is given. */
export async function createPresetProvider(w: ProvidersWrite, input: PresetInput): Promise<ProviderCreated> {
  const preset = PROVIDER_PRESETS[input.preset];
  const values = groupValues({
    name: input.name ?? input.preset,
    type: preset.type,
    route_group: input.route_group,
    base_url: preset.baseUrl,
    models: input.models ?? [...preset.models],
    status: 'active',
  });
  return createWithKey(w, values, input.api_key, { action: 'provider.preset', metadata: { preset: input.preset } }, { rateMultiplier: input.rate_multiplier, seedModels: values.models });
}

/** `POST /admin/providers/custom`: any OpenAI-compatible endpoint (type `compatible`). */
export async function createCustomProvider(w: ProvidersWrite, input: CustomInput): Promise<ProviderCreated> {
  const values = groupValues({
    name: input.name,
    type: 'compatible',
    route_group: input.route_group,
    base_url: input.base_url,
    models: input.models,
    status: 'active',
  });
  return createWithKey(w, values, input.api_key, { action: 'provider.custom', metadata: { type: 'compatible' } }, { rateMultiplier: input.rate_multiplier });
}
