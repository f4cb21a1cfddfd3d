import { z } from 'zod';

export const actorSchema = z
  .object({
    type: z.literal('admin'),
    id: z.string().meta({ description: '`bootstrap` for the EZ_ADMIN_TOKEN admin; `<name>#<id>` for a named admin (the audit actor id)', example: 'bootstrap' }),
    role: z.enum(['admin', 'viewer']).meta({ description: '`viewer` may only read; the bootstrap token is `admin`', example: 'admin' }),
    admin_id: z.number().int().positive().optional().meta({ description: 'Named admins only: the row id in `/admin/admins`', example: 3 }),
    name: z.string().optional().meta({ description: 'Named admins only: the login name', example: 'alice' }),
  })
  .meta({ id: 'Actor' });

export const whoamiResponseSchema = z.object({ actor: actorSchema }).meta({ id: 'WhoamiResponse' });
