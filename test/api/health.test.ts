import { expect } from 'chai';
import { freePort } from '../../src/lib/local-services.js';
import { startTestApi, type TestApi } from './helpers.js';

interface Readiness {
  status: string;
  checks: { postgres: { status: string; latency_ms: number }; redis: { status: string; latency_ms: number } };
}

describe('GET /health/ready', function () {
  describe('with PostgreSQL and Redis up', function () {
    let api: TestApi;
    before(async function () {
      api = await startTestApi({ queueName: 'api-health-up' });
    });
    after(async function () {
      await api?.close();
    });

    it('is 200 ready with both checks up', async function () {
      const res = await fetch(`${api.url}/health/ready`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as Readiness;
      expect(body.status).to.equal('ready');
      expect(body.checks.postgres.status).to.equal('up');
      expect(body.checks.redis.status).to.equal('up');
      expect(body.checks.postgres.latency_ms).to.be.a('number');
      expect(body.checks.redis.latency_ms).to.be.a('number');
    });
  });

  describe('with Redis unreachable', function () {
    let api: TestApi;
    let deadRedisUrl: string;
    before(async function () {
      deadRedisUrl = `redis://127.0.0.1:${await freePort()}/0`;
      api = await startTestApi({ queueName: 'api-health-down', redisUrl: deadRedisUrl });
    });
    after(async function () {
      await api?.close();
    });

    it('is 503 naming redis down within ~3 s, without leaking the URL', async function () {
      const started = Date.now();
      const res = await fetch(`${api.url}/health/ready`);
      const elapsed = Date.now() - started;
      expect(res.status).to.equal(503);
      const text = await res.text();
      const body = JSON.parse(text) as Readiness;
      expect(body.status).to.equal('not_ready');
      expect(body.checks.redis.status).to.equal('down');
      expect(body.checks.postgres.status).to.equal('up');
      expect(elapsed).to.be.below(3_000);
      expect(text).to.not.contain('redis://');
      expect(text).to.not.contain(new URL(deadRedisUrl).port);
    });

    it('does not take liveness down with it', async function () {
      const res = await fetch(`${api.url}/health`);
      expect(res.status).to.equal(200);
    });
  });
});
