import type { Knex } from 'knex';
import { getSetting, lockSetting, putSetting } from '../db/settings.repository.js';
import { ValidationError, type FieldError } from '../lib/errors.js';
import { DEFAULT_FEATURES } from './sync/projections.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Feature flags (`GET|PUT /admin/features`). PostgreSQL keeps the flags an admin set (settings row
 * `features`, a jsonb object of strings); what the data plane sees in `meta:features` is
 * DEFAULT_FEATURES overlaid with them, written by the sync worker after the `features` outbox row.
 */

export const FEATURES_SETTING = 'features';
/** Flag names: lower snake_case, so they are safe as Redis hash fields and env-like names. */
export const FLAG_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** Longest flag value stored (values are strings in Redis). */
export const MAX_FLAG_VALUE_LENGTH = 1_024;
/** Most flags stored at once (built-in and admin-defined together). */
export const MAX_FLAGS = 200;

export type FlagValue = string | boolean | number | null;

/** Built-in flags whose values are constrained; any other flag takes any string. */
const ALLOWED_VALUES: Readonly<Record<string, readonly string[]>> = {
  dp_state_store_backend: ['memory', 'redis'],
  dp_claude_cross_upstream: ['true', 'false'],
  dp_gemini_cross_upstream: ['true', 'false'],
  log_request_body_enabled: ['true', 'false'],
};

export interface FeaturesDto {
  /** Effective flags: the defaults overlaid with what an admin set. */
  flags: Record<string, string>;
  /** Built-in flags and their defaults. */
  defaults: Record<string, string>;
  /** Only the flags an admin set (a built-in one absent here is at its default). */
  overrides: Record<string, string>;
  updated_at: string | null;
  updated_by: string | null;
}

/** `true` → 'true', `3` → '3'; strings as given. */
export function stringifyFlag(value: string | boolean | number): string {
  return typeof value === 'string' ? value : String(value);
}

/** The effective flags: DEFAULT_FEATURES overlaid with the stored ones. */
export function effectiveFeatures(stored: Readonly<Record<string, string>>): Record<string, string> {
  return { ...DEFAULT_FEATURES, ...stored };
}

/** Checks one incoming flag; returns its field error, if any. */
export function flagError(name: string, value: FlagValue): FieldError | undefined {
  const field = `body.flags.${name}`;
  if (!FLAG_NAME_PATTERN.test(name)) return { field, message: `Flag names must match ${FLAG_NAME_PATTERN.source}` };
  if (value === null) return undefined;
  if (typeof value === 'number' && !Number.isFinite(value)) return { field, message: 'Must be a finite number' };
  const text = stringifyFlag(value);
  if (text.length > MAX_FLAG_VALUE_LENGTH) return { field, message: `At most ${MAX_FLAG_VALUE_LENGTH} characters` };
  const allowed = ALLOWED_VALUES[name];
  if (allowed && !allowed.includes(text)) return { field, message: `Must be one of: ${allowed.join(', ')}` };
  return undefined;
}

function toDto(stored: Record<string, string>, row?: { updated_at: Date; updated_by: string | null }): FeaturesDto {
  return {
    flags: effectiveFeatures(stored),
    defaults: { ...DEFAULT_FEATURES },
    overrides: stored,
    updated_at: row ? row.updated_at.toISOString() : null,
    updated_by: row?.updated_by ?? null,
  };
}

/** Only string values survive from the stored document (it is ours, but jsonb is untyped). */
function storedFlags(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export async function getFeatures(knex: Knex): Promise<FeaturesDto> {
  const row = await getSetting<unknown>(knex, FEATURES_SETTING);
  return toDto(storedFlags(row?.value), row);
}

/**
 * Sets the given flags and leaves the others alone; `null` removes a flag (a built-in one then
 * reverts to its default). Validates every flag first and reports all bad ones at once.
 */
export async function updateFeatures(deps: WriteDeps, ctx: WriteContext, flags: Readonly<Record<string, FlagValue>>): Promise<FeaturesDto> {
  const details = Object.entries(flags).flatMap(([name, value]) => flagError(name, value) ?? []);
  if (details.length > 0) throw new ValidationError('Request validation failed', details);
  return write(deps, ctx, async (unit) => {
    await lockSetting(unit.trx, FEATURES_SETTING);
    const current = await getSetting<unknown>(unit.trx, FEATURES_SETTING, { forUpdate: true });
    const next = storedFlags(current?.value);
    const set: Record<string, string> = {};
    const removed: string[] = [];
    for (const [name, value] of Object.entries(flags)) {
      if (value === null) {
        if (Object.hasOwn(next, name)) removed.push(name);
        delete next[name];
      } else {
        next[name] = set[name] = stringifyFlag(value);
      }
    }
    const total = Object.keys(effectiveFeatures(next)).length;
    if (total > MAX_FLAGS) throw new ValidationError(`At most ${MAX_FLAGS} flags can exist; this update would leave ${total}`, [{ field: 'body.flags', message: `At most ${MAX_FLAGS} flags in total` }]);
    const row = await putSetting(unit.trx, FEATURES_SETTING, next, `${ctx.actor.type}:${ctx.actor.id}`);
    await unit.audit('features.update', { type: 'features', id: null }, { set, removed });
    await unit.sync({ resource: 'features', action: 'upsert' });
    return toDto(next, row);
  });
}
