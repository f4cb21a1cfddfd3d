import type { Middleware } from 'koa';
import type { z } from 'zod';
import { ValidationError, type FieldError } from '../../lib/errors.js';
import type { ApiState } from '../context.js';

export interface ValidationSchemas {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
}

export interface ValidatedInput {
  params: unknown;
  query: unknown;
  body: unknown;
}

/** At most this many field errors are returned; one bad array can produce thousands. */
const MAX_DETAILS = 50;
const SOURCES = ['params', 'query', 'body'] as const;

function fieldErrors(source: (typeof SOURCES)[number], error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: [source, ...issue.path.map((p) => String(p))].join('.'),
    message: issue.message,
  }));
}

/**
 * zod validation of `{ params, query, body }` into `ctx.state.input`. Every failing field is
 * reported at once as 400 validation_failed with `details: [{ field: 'body.name', message }]`.
 * Query values arrive as strings (or string[] when repeated): use z.coerce for numbers.
 */
export function validate(schemas: ValidationSchemas): Middleware<ApiState> {
  return async (ctx, next) => {
    const raw = {
      params: (ctx as { params?: Record<string, string> }).params ?? {},
      query: ctx.query,
      body: ctx.state.body,
    };
    const input: ValidatedInput = { params: undefined, query: undefined, body: undefined };
    const details: FieldError[] = [];
    for (const source of SOURCES) {
      const schema = schemas[source];
      if (!schema) continue;
      const result = await schema.safeParseAsync(raw[source]);
      if (result.success) input[source] = result.data;
      else details.push(...fieldErrors(source, result.error));
    }
    if (details.length) throw new ValidationError('Request validation failed', details.slice(0, MAX_DETAILS));
    ctx.state.input = input;
    await next();
  };
}
