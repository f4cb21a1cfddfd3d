import type { ApiRoute } from '../route.js';
import { adminRoutes } from './admin.routes.js';
import { docsRoutes } from './docs.routes.js';
import { systemRoutes } from './system.routes.js';

/**
 * Every route of the api process. A new resource adds `<resource>.schemas.ts` (zod) and
 * `<resource>.routes.ts` (defineRoute list) and spreads its list here: that mounts it and
 * puts it in /openapi.json.
 */
export const apiRoutes: readonly ApiRoute[] = [...systemRoutes, ...docsRoutes, ...adminRoutes];
