import { UnauthorizedError } from '../../lib/errors.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { whoamiResponseSchema } from './admin.schemas.js';

export const adminRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/whoami',
    summary: 'The admin the credentials belong to',
    tags: ['admin'],
    auth: 'admin',
    responses: { 200: { description: 'The authenticated admin', schema: whoamiResponseSchema } },
    handler: (ctx) => {
      const actor = ctx.state.actor;
      if (!actor) throw new UnauthorizedError();
      if (actor.type !== 'admin') throw new UnauthorizedError();
      if (actor.adminId === undefined || actor.name === undefined) return { actor: { type: actor.type, id: actor.id, role: actor.role } };
      return { actor: { type: actor.type, id: actor.id, role: actor.role, admin_id: actor.adminId, name: actor.name } };
    },
  }),
];
