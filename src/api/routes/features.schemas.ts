import { z } from 'zod';
import { MAX_FLAG_VALUE_LENGTH } from '../../domain/features.service.js';

/** Schemas of `GET|PUT /admin/features`. */

/** Most flags one PUT may name. */
export const MAX_FLAGS_PER_UPDATE = 100;

const flagValue = z
  .union([z.string().max(MAX_FLAG_VALUE_LENGTH), z.boolean(), z.number(), z.null()])
  .meta({ description: 'Stored as a string (`true`/`false` for booleans); `null` removes the flag (a built-in one reverts to its default)' });

export const updateFeaturesSchema = z
  .object({
    flags: z
      .record(z.string(), flagValue)
      .refine((flags) => Object.keys(flags).length <= MAX_FLAGS_PER_UPDATE, { message: `At most ${MAX_FLAGS_PER_UPDATE} flags per update` })
      .meta({
        description:
          'Flags to set, by name (`^[a-z][a-z0-9_]{0,63}$`); flags not named keep their value. Built-in: `dp_state_store_backend` (`memory|redis`), `dp_claude_cross_upstream`, `dp_gemini_cross_upstream` and `log_request_body_enabled` (booleans).',
        example: { log_request_body_enabled: true, my_flag: 'on' },
      }),
  })
  .strict()
  .meta({ id: 'FeaturesUpdate' });

const flags = z.record(z.string(), z.string());

export const featuresSchema = z
  .object({
    flags: flags.meta({ description: 'Effective flags (what the data plane sees in meta:features)' }),
    defaults: flags.meta({ description: 'Built-in flags and their defaults' }),
    overrides: flags.meta({ description: 'Only the flags an admin set' }),
    updated_at: z.string().nullable().meta({ format: 'date-time' }),
    updated_by: z.string().nullable(),
  })
  .meta({ id: 'Features' });
