import { z } from 'zod';
import { STATUS_BY_CODE } from '../middleware/error-handler.js';
import type { AppErrorCode } from '../../lib/errors.js';

const ERROR_CODES = Object.keys(STATUS_BY_CODE) as [AppErrorCode, ...AppErrorCode[]];

export const fieldErrorSchema = z
  .object({
    field: z.string().meta({ example: 'body.name' }),
    message: z.string(),
    from: z.string().optional().meta({ description: '`invalid_transition` only: the current status' }),
    to: z.string().optional().meta({ description: '`invalid_transition` only: the requested status' }),
  })
  .meta({ id: 'FieldError' });

/** DESIGN §7: the one error shape of the api. */
export const errorResponseSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).meta({ description: 'Stable snake_case error code' }),
      message: z.string(),
      details: z.array(fieldErrorSchema).optional(),
    }),
  })
  .meta({ id: 'ErrorResponse', description: 'Error body for every non-2xx response' });

/** An optional ISO 8601 instant in a query string, parsed to a Date (every time-range filter). */
export const queryInstant = (description: string) =>
  z.iso
    .datetime({ offset: true })
    .pipe(z.coerce.date())
    .optional()
    .meta({ description: `${description} (ISO 8601 with a zone, e.g. 2026-01-31T12:00:00Z)` });
