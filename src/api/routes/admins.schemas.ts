import { z } from 'zod';
import { ADMIN_NAME_PATTERN, ADMIN_NAME_RULE } from '../../domain/admins.service.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../lib/password.js';
import { idParamsSchema, paginationQueryShape, paginationSchema } from './models.schemas.js';

/** Schemas of `POST /admin/login`, `/admin/admins` and `POST /admin/me/password` (docs/admins.md). */

export const adminRoleSchema = z.enum(['admin', 'viewer']).meta({
  id: 'AdminRole',
  description: '`admin`: everything the bootstrap token may do; `viewer`: GET/HEAD only (no secret reveals), plus their own password',
});
export const adminStatusSchema = z.enum(['active', 'disabled']).meta({ id: 'AdminStatus' });

const adminName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(ADMIN_NAME_PATTERN, ADMIN_NAME_RULE)
  .meta({ description: 'Unique, case-insensitive (stored lower-case)', example: 'alice' });

const newPassword = z
  .string()
  .min(PASSWORD_MIN_LENGTH)
  .max(PASSWORD_MAX_LENGTH)
  .meta({ description: `${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters; stored only as a scrypt hash`, format: 'password' });

/** What a login or a current-password field accepts: anything up to the maximum length. */
const givenPassword = z.string().min(1).max(PASSWORD_MAX_LENGTH).meta({ format: 'password' });

export const adminIdParamsSchema = idParamsSchema;

export const loginBodySchema = z
  .object({
    name: z.string().min(1).max(256).meta({ description: 'Admin name (case-insensitive)', example: 'alice' }),
    password: givenPassword,
  })
  .strict()
  .meta({ id: 'AdminLogin' });

export const adminSummarySchema = z.object({ id: z.number().int(), name: z.string(), role: adminRoleSchema }).meta({ id: 'AdminSummary' });

export const loginResponseSchema = z
  .object({
    token: z.string().meta({ description: 'HS256 JWT: send as `Authorization: Bearer <token>`' }),
    token_type: z.literal('Bearer'),
    expires_at: z.string().meta({ format: 'date-time' }),
    admin: adminSummarySchema,
  })
  .meta({ id: 'AdminToken' });

export const createAdminSchema = z.object({ name: adminName, password: newPassword, role: adminRoleSchema }).strict().meta({ id: 'AdminCreate' });

export const updateAdminSchema = z
  .object({
    role: adminRoleSchema.optional(),
    status: adminStatusSchema.optional().meta({ description: '`disabled` also ends the admin’s sessions (their JWTs stop working at once)' }),
    password: newPassword.optional().meta({ description: 'A new password: ends the admin’s sessions and lifts a login lock' }),
  })
  .strict()
  .meta({ id: 'AdminUpdate' });

export const changeOwnPasswordSchema = z
  .object({ current_password: givenPassword, new_password: newPassword })
  .strict()
  .meta({ id: 'AdminPasswordChange' });

export const listAdminsQuerySchema = z
  .object({ role: adminRoleSchema.optional(), status: adminStatusSchema.optional(), ...paginationQueryShape })
  .strict();

export const adminSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    role: adminRoleSchema,
    status: adminStatusSchema,
    locked_until: z.string().nullable().meta({ format: 'date-time', description: 'Login refused until then after 5 failed logins; null when not locked' }),
    last_login_at: z.string().nullable().meta({ format: 'date-time' }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Admin' });

export const adminListSchema = z.object({ data: z.array(adminSchema), pagination: paginationSchema }).meta({ id: 'AdminList' });
