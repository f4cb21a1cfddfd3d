import { expect } from 'chai';
import { buildOpenApiDocument } from '../../src/api/openapi.js';
import { openApiPath } from '../../src/api/route.js';
import { apiRoutes } from '../../src/api/routes/index.js';

describe('the OpenAPI document', () => {
  const document = buildOpenApiDocument(apiRoutes);

  it('lists every documented route with its method, and nothing else', () => {
    const expected = apiRoutes.filter((r) => r.openapi !== false).map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    const listed = Object.entries(document.paths ?? {})
      .flatMap(([path, item]) => Object.keys(item ?? {}).filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k)).map((m) => `${m} ${path}`))
      .sort();
    expect(listed).to.deep.equal(expected);
    expect(expected.length).to.be.greaterThan(50);
  });

  it('every operation that takes input documents the 400 error body, and every protected one its 401', () => {
    for (const route of apiRoutes.filter((r) => r.openapi !== false)) {
      const operation = document.paths?.[openApiPath(route.path)]?.[route.method] as { responses: Record<string, unknown> } | undefined;
      const label = `${route.method} ${route.path}`;
      expect(operation, label).to.not.equal(undefined);
      if (route.request?.body || route.request?.query || route.request?.params) expect(operation!.responses, label).to.have.property('400');
      if (route.auth !== 'none') expect(operation!.responses, label).to.have.property('401');
    }
  });
});
