import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { buildInfo } from '../lib/version.js';
import type { ApiRoute, RouteResponse } from './route.js';
import { openApiPath, operationIdOf } from './route.js';
import { errorResponseSchema } from './routes/common.schemas.js';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export const ADMIN_BEARER = 'adminBearer';
export const ADMIN_BASIC = 'adminBasic';
export const MASTER_BEARER = 'masterBearer';
export const INTERNAL_TOKEN = 'internalToken';

/**
 * The api's one OpenAPI registry: security schemes, then one path per
 * route definition. New routes need nothing here: defining them with defineRoute and listing
 * them in routes/index.ts registers them.
 */
export function createOpenApiRegistry(routes: readonly ApiRoute[]): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', ADMIN_BEARER, {
    type: 'http',
    scheme: 'bearer',
    description: 'The bootstrap admin token (EZ_ADMIN_TOKEN); admin JWTs from POST /admin/login later.',
  });
  registry.registerComponent('securitySchemes', ADMIN_BASIC, {
    type: 'http',
    scheme: 'basic',
    description: 'Any username, the admin token as password (for browsers, e.g. Bull Board).',
  });
  registry.registerComponent('securitySchemes', MASTER_BEARER, {
    type: 'http',
    scheme: 'bearer',
    description: "A tenant's master key (`ezm_…`), for the master routes under /v1.",
  });
  registry.registerComponent('securitySchemes', INTERNAL_TOKEN, {
    type: 'apiKey',
    in: 'header',
    name: 'X-Internal-Token',
    description: 'EZ_INTERNAL_TOKEN, for data plane → control plane calls (POST /logs, /internal/…).',
  });
  for (const route of routes) {
    if (route.openapi === false) continue;
    registry.registerPath(routeConfig(route));
  }
  return registry;
}

function content(response: RouteResponse): ResponseConfig {
  if (!response.schema) return { description: response.description };
  return { description: response.description, content: { [response.contentType ?? 'application/json']: { schema: response.schema } } };
}

const errorResponse = (description: string): ResponseConfig => ({
  description,
  content: { 'application/json': { schema: errorResponseSchema } },
});

const SECURITY: Record<ApiRoute['auth'], RouteConfig['security']> = {
  none: [],
  admin: [{ [ADMIN_BEARER]: [] }, { [ADMIN_BASIC]: [] }],
  master: [{ [MASTER_BEARER]: [] }],
  internal: [{ [INTERNAL_TOKEN]: [] }],
};

function routeConfig(route: ApiRoute): RouteConfig {
  const responses: RouteConfig['responses'] = {};
  for (const [status, response] of Object.entries(route.responses)) responses[status] = content(response);
  const request = route.request ?? {};
  if (request.params || request.query || request.body) responses['400'] ??= errorResponse('Invalid input (validation_failed, invalid_json)');
  if (request.body) {
    responses['413'] ??= errorResponse('Body larger than the limit (payload_too_large)');
    responses['415'] ??= errorResponse('Body is not JSON (unsupported_media_type)');
  }
  if (route.auth === 'admin') responses['401'] ??= errorResponse('Missing or invalid admin credentials (unauthorized)');
  if (route.auth === 'master') {
    responses['401'] ??= errorResponse('Missing or invalid master key (unauthorized)');
    responses['403'] ??= errorResponse('The master is suspended (forbidden)');
  }
  if (route.auth === 'internal') responses['401'] ??= errorResponse('Missing or invalid X-Internal-Token (unauthorized)');
  responses['500'] ??= errorResponse('Unexpected error (internal_error)');
  return {
    method: route.method,
    path: openApiPath(route.path),
    operationId: operationIdOf(route),
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: route.tags,
    security: SECURITY[route.auth],
    request: {
      ...(request.params ? { params: request.params } : {}),
      ...(request.query ? { query: request.query } : {}),
      ...(request.body ? { body: { required: true, content: { 'application/json': { schema: request.body } } } } : {}),
    },
    responses,
  };
}

/** OpenAPI 3.1 document for the routes (served at /openapi.json; generated once at start-up). */
export function buildOpenApiDocument(routes: readonly ApiRoute[]): OpenApiDocument {
  const registry = createOpenApiRegistry(routes);
  // ErrorResponse is listed on its own (named by its `.meta({ id })`) so it is a component even
  // before any route references it.
  return new OpenApiGeneratorV31([...registry.definitions, errorResponseSchema]).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'EZ-API',
      version: buildInfo.version,
      description: 'Control-plane REST API of the EZ-API gateway. Errors: `{"error":{"code","message","details?"}}`.',
    },
    tags: [
      { name: 'system', description: 'Liveness, readiness, build info, metrics' },
      { name: 'docs', description: 'This document and its viewer' },
      { name: 'admin', description: 'Administration (admin token)' },
      { name: 'master', description: 'Tenant self-service (master key)' },
      { name: 'sync', description: 'Outbox and Redis snapshot (admin token)' },
    ],
  });
}
