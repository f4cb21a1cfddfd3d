import { readFile } from 'node:fs/promises';
import path from 'node:path';
import swaggerUiDist from 'swagger-ui-dist';
import { z } from 'zod';
import { NotFoundError } from '../../lib/errors.js';
import { defineRoute, type ApiRoute } from '../route.js';

/** Swagger UI needs inline styles; everything else comes from this origin (no CDN). */
export const DOCS_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** The swagger-ui-dist files the page uses, with their content types; nothing else is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const assetCache = new Map<string, Promise<Buffer>>();
function asset(name: string): Promise<Buffer> {
  let cached = assetCache.get(name);
  if (!cached) {
    cached = readFile(path.join(swaggerUiDist.getAbsoluteFSPath(), name));
    cached.catch(() => assetCache.delete(name));
    assetCache.set(name, cached);
  }
  return cached;
}

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>EZ-API — API reference</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A file rather than an inline script, so the page runs under a CSP without 'unsafe-inline' scripts.
const DOCS_INIT_JS = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout'
  });
});
`;

const openApiDocumentSchema = z
  .object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .loose()
  .meta({ id: 'OpenApiDocument' });

export const docsRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tags: ['docs'],
    auth: 'none',
    responses: { 200: { description: 'OpenAPI 3.1 document', schema: openApiDocumentSchema } },
    handler: (_ctx, _input, env) => env.openapi(),
  }),
  defineRoute({
    method: 'get',
    path: '/docs',
    summary: 'Swagger UI for this API',
    tags: ['docs'],
    auth: 'none',
    responses: { 200: { description: 'HTML page', schema: z.string(), contentType: 'text/html' } },
    handler: (ctx) => {
      ctx.set('Content-Security-Policy', DOCS_CSP);
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = DOCS_HTML;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/docs/init.js',
    summary: 'Swagger UI start-up script',
    tags: ['docs'],
    auth: 'none',
    openapi: false,
    responses: { 200: { description: 'JavaScript' } },
    handler: (ctx) => {
      ctx.type = 'application/javascript; charset=utf-8';
      ctx.body = DOCS_INIT_JS;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/docs/assets/:file',
    summary: 'Swagger UI static files (from the local swagger-ui-dist package)',
    tags: ['docs'],
    auth: 'none',
    openapi: false,
    request: { params: z.object({ file: z.string() }) },
    responses: { 200: { description: 'Static file' } },
    handler: async (ctx, { params }) => {
      const type = Object.hasOwn(ASSETS, params.file) ? ASSETS[params.file] : undefined;
      if (!type) throw new NotFoundError('Asset', params.file.slice(0, 100));
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.type = type;
      ctx.body = await asset(params.file);
    },
  }),
];
