import type { ProviderSnapshot } from '../../../src/lib/redis-layout.js';

/** A provider snapshot as the sync worker writes it, with a recognisable secret. */
export function snapshot(type: string, overrides: Partial<ProviderSnapshot> = {}): ProviderSnapshot {
  return {
    id: 7,
    name: 'group#7',
    type,
    base_url: '',
    api_key: 'sk-secret-7',
    google_project: null,
    google_location: null,
    group_id: 1,
    group: 'default',
    models: [],
    weight: 1,
    rate_multiplier: 1,
    status: 'active',
    auto_ban: true,
    ban_until: null,
    timeouts: { connect_ms: null, first_byte_ms: null, idle_ms: null, request_ms: null },
    ...overrides,
  };
}

/** An unsigned JWT with the given claims, shaped like a Codex access token. */
export function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export const CODEX_TOKEN = jwt({ sub: 'user-1', 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-1234' } });
