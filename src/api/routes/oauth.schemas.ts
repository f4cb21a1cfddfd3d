import { z } from 'zod';
import { API_KEY_STATUSES } from '../../db/api-keys.repository.js';

/** Schemas of `POST /admin/api-keys/:id/refresh` (docs/oauth-refresh.md). Never a token. */

export { idParamsSchema } from './models.schemas.js';

export const oauthRefreshResultSchema = z
  .object({
    id: z.number().int(),
    outcome: z
      .enum(['refreshed', 'skipped', 'retryable_failure', 'disabled', 'rejected', 'config_error'])
      .meta({
        description:
          '`refreshed`: new access token stored and synced; `skipped`: another refresh finished since the request; `retryable_failure`: the token endpoint was unreachable or answered 429/5xx (the sweep retries); `disabled`: the refresh token was refused and the active key was disabled; `rejected`: refused, key was not active; `config_error`: a missing client secret or an undecryptable refresh token',
      }),
    detail: z.string().meta({ description: 'Why (a status and OAuth error code at most; never a body or token)' }),
    status: z.enum(API_KEY_STATUSES),
    access_token_expires_at: z.iso.datetime().nullable(),
    last_refresh_at: z.iso.datetime().nullable(),
    refresh_error: z.string().nullable(),
    refresh_failure_count: z.number().int(),
  })
  .meta({ id: 'OAuthRefreshResult' });
