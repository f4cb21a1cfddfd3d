import type { Middleware } from 'koa';
import { Router, type RouterContext, type RouterMiddleware } from '@koa/router';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { ApiState } from './context.js';
import type { ApiDeps } from './deps.js';
import type { OpenApiDocument } from './openapi.js';
import { jsonBody } from './middleware/body-parser.js';
import { validate, type ValidatedInput } from './middleware/validate.js';

/**
 * One route = one definition: method, path, auth, zod request/response schemas and the handler.
 * The same definition builds the Koa route (auth → JSON body → validate → handler) and the
 * OpenAPI operation (openapi.ts), so the document cannot drift from what is served.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
/**
 * `admin`: bootstrap token or an admin JWT; `master`: a tenant's master key; `internal`: the
 * `X-Internal-Token` of data plane → control plane calls.
 */
export type RouteAuth = 'none' | 'admin' | 'master' | 'internal';

export interface RouteRequest {
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
}

export interface RouteResponse {
  description: string;
  /** Body schema; omit for an empty response (204). */
  schema?: z.ZodType;
  /** Default `application/json`. */
  contentType?: string;
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What the handler receives, typed from the route's own schemas. */
export interface RouteInput<R extends RouteRequest> {
  params: Parsed<R['params']>;
  query: Parsed<R['query']>;
  body: Parsed<R['body']>;
}

/** Process-wide things a handler may use besides the request. */
export interface RouteEnv {
  deps: ApiDeps;
  /** The api's Prometheus registry. */
  metrics: Registry;
  /** The generated OpenAPI document. */
  openapi: () => OpenApiDocument;
  startedAt: Date;
}

export type RouteContext = RouterContext<ApiState>;

export interface RouteSpec<R extends RouteRequest> {
  method: HttpMethod;
  /** Koa-style path: `/admin/masters/:id`. */
  path: string;
  /** Default `<method>_<path words>`, e.g. `get_admin_masters_id`. */
  operationId?: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: RouteAuth;
  request?: R;
  /**
   * Body size limit of this route, when it must differ from config.http.apiBodyLimitBytes (the
   * larger of the two applies). Checked after auth, so only authenticated callers get it.
   */
  bodyLimitBytes?: number;
  /** Success responses by status; error responses (400/401/500…) are added from the ErrorResponse schema. */
  responses: Record<number, RouteResponse>;
  /** `false` serves the route but leaves it out of /openapi.json (static assets). Default true. */
  openapi?: boolean;
  /** Sets ctx.body/ctx.status, or returns the body (status then defaults to 200). */
  handler: (ctx: RouteContext, input: RouteInput<R>, env: RouteEnv) => unknown;
}

/** A route definition with its input type erased, as kept in route lists. */
export interface ApiRoute extends Omit<RouteSpec<RouteRequest>, 'handler'> {
  handler: (ctx: RouteContext, input: ValidatedInput, env: RouteEnv) => unknown;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- "no request schemas" is the default
export function defineRoute<R extends RouteRequest = {}>(spec: RouteSpec<R>): ApiRoute {
  return spec as unknown as ApiRoute;
}

/** `/admin/masters/:id` → `/admin/masters/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function operationIdOf(route: Pick<ApiRoute, 'method' | 'path' | 'operationId'>): string {
  if (route.operationId) return route.operationId;
  const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return [route.method, ...words].join('_');
}

export interface BuildRouterOptions {
  env: RouteEnv;
  /** The middleware enforcing each non-public RouteAuth. */
  auth: Record<Exclude<RouteAuth, 'none'>, Middleware<ApiState>>;
  /** config.http.apiBodyLimitBytes. */
  bodyLimitBytes: number;
}

/** Builds the Koa router for a list of routes; throws at start-up on a duplicate method + path. */
export function buildRouter(routes: readonly ApiRoute[], options: BuildRouterOptions): Router<ApiState> {
  const router = new Router<ApiState>();
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method.toUpperCase()} ${route.path}`;
    if (seen.has(key)) throw new Error(`Route defined twice: ${key}`);
    seen.add(key);
    const stack: Array<Middleware<ApiState>> = [];
    if (route.auth !== 'none') stack.push(options.auth[route.auth]);
    if (route.request?.body) stack.push(jsonBody({ limitBytes: Math.max(options.bodyLimitBytes, route.bodyLimitBytes ?? 0) }));
    stack.push(validate(route.request ?? {}));
    stack.push(async (ctx) => {
      const result = await route.handler(ctx as RouteContext, ctx.state.input as ValidatedInput, options.env);
      if (result !== undefined) ctx.body = result;
    });
    router.register(route.path, [route.method], stack as Array<RouterMiddleware<ApiState>>, { name: operationIdOf(route) });
  }
  return router;
}
