import { expect } from 'chai';
import { Pool } from 'undici';
import { startCluster, type Cluster } from './support/cluster.js';

/**
 * DESIGN §9 invariant 5: limits hold across gateway replicas. A key limited to 100 requests per
 * minute gets 400 requests at once, 200 at each of two gateway processes: no more than 100 (+2,
 * the margin for a sliding window) are admitted, the rest are refused with 429 — not 100
 * per gateway.
 */
const RPM = 100;
const PER_GATEWAY = 200;

describe('faults: limits across two gateways (invariant 5)', function () {
  this.timeout(600_000);
  let cluster: Cluster;

  before(async function () {
    cluster = await startCluster();
  });
  after(async () => {
    await cluster?.close();
  });

  it(`a ${RPM}-per-minute key admits at most ${RPM} (± 2) of ${2 * PER_GATEWAY} requests arriving at both gateways at once`, async () => {
    const tenant = await cluster.seedTenant('limits', { rpm_limit: RPM });
    await cluster.waitForGateways();
    const body = JSON.stringify({ model: cluster.model, messages: [{ role: 'user', content: 'hi' }] });
    const upstreamBefore = cluster.mock.requests.length;

    // Every request is in flight on its own connection before the first answer can come back.
    const pools = cluster.gatewayUrls().map((url) => new Pool(url, { connections: PER_GATEWAY, pipelining: 0 }));
    const statuses: number[] = [];
    try {
      await Promise.all(
        pools.flatMap((pool) =>
          Array.from({ length: PER_GATEWAY }, async () => {
            const res = await pool.request({
              path: '/v1/chat/completions',
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant.key}` },
              body,
              headersTimeout: 60_000,
              bodyTimeout: 60_000,
            });
            const text = await res.body.text();
            if (res.statusCode === 429) expect(res.headers['retry-after'], `429 without Retry-After: ${text}`).to.match(/^\d+$/);
            statuses.push(res.statusCode);
          }),
        ),
      );
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }

    const count = (status: number) => statuses.filter((s) => s === status).length;
    const admitted = count(200);
    console.log(`      ${admitted} admitted, ${count(429)} refused with 429 of ${statuses.length}`);
    expect(statuses).to.have.length(2 * PER_GATEWAY);
    expect(count(200) + count(429), 'every answer is 200 or 429').to.equal(2 * PER_GATEWAY);
    expect(admitted, 'admitted across both gateways').to.be.at.most(RPM + 2);
    // The limit is reached, not refused wholesale: a limiter that fails closed would pass the line above.
    expect(admitted, 'admitted across both gateways').to.be.at.least(RPM - 2);
    expect(cluster.mock.requests.length - upstreamBefore, 'requests that reached the upstream').to.equal(admitted);
  });
});
