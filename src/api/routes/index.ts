import type { ApiRoute } from '../route.js';
import { adminRoutes } from './admin.routes.js';
import { adminAccountRoutes } from './admins.routes.js';
import { alertRoutes } from './alerts.routes.js';
import { auditRoutes } from './audit.routes.js';
import { bindingRoutes } from './bindings.routes.js';
import { docsRoutes } from './docs.routes.js';
import { featureRoutes } from './features.routes.js';
import { keyRoutes } from './keys.routes.js';
import { logRoutes } from './logs.routes.js';
import { logWebhookRoutes } from './log-webhook.routes.js';
import { masterRoutes } from './masters.routes.js';
import { modelRoutes } from './models.routes.js';
import { namespaceRoutes } from './namespaces.routes.js';
import { oauthRoutes } from './oauth.routes.js';
import { providerRoutes } from './providers.routes.js';
import { statsRoutes } from './stats.routes.js';
import { syncRoutes } from './sync.routes.js';
import { systemRoutes } from './system.routes.js';
import { tokenRoutes } from './tokens.routes.js';
import { webhookRoutes } from './webhooks.routes.js';
import { usageRoutes } from './usage.routes.js';

/**
 * Every route of the api process. A new resource adds `<resource>.schemas.ts` (zod) and
 * `<resource>.routes.ts` (defineRoute list) and spreads its list here: that mounts it and
 * puts it in /openapi.json.
 */
export const apiRoutes: readonly ApiRoute[] = [
  ...systemRoutes, ...docsRoutes, ...adminRoutes, ...syncRoutes,
  ...adminAccountRoutes,
  ...modelRoutes,
  ...namespaceRoutes,
  ...bindingRoutes,
  ...featureRoutes,
  ...auditRoutes,
  ...masterRoutes,
  ...keyRoutes,
  ...tokenRoutes,
  // Before providerRoutes: /admin/api-keys/:id would catch /admin/api-keys/stats/summary.
  ...statsRoutes,
  ...oauthRoutes,
  ...providerRoutes,
  ...logWebhookRoutes,
  ...alertRoutes,
  ...webhookRoutes,
  ...logRoutes,
  ...usageRoutes,
];
