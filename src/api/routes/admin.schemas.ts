import { z } from 'zod';

export const actorSchema = z
  .object({
    type: z.literal('admin'),
    id: z.string().meta({ description: '`bootstrap` for the EZ_ADMIN_TOKEN admin', example: 'bootstrap' }),
  })
  .meta({ id: 'Actor' });

export const whoamiResponseSchema = z.object({ actor: actorSchema }).meta({ id: 'WhoamiResponse' });
