import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/lib/config.js';

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ez-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    expect.fail('expected a ConfigError');
  };

  it('uses the documented defaults when nothing is set', () => {
    const sut = loadConfig({ env: {}, cwd: dir });
    expect(sut.apiPort).to.equal(8080);
    expect(sut.gatewayPort).to.equal(8081);
    expect(sut.redis).to.deep.equal({ url: 'redis://localhost:6379/0', defaulted: true });
    expect(sut.pg.dsn).to.equal(undefined);
    expect(sut.log).to.include({ level: 'info', queueSize: 10_000, flushMs: 1_000, retentionDays: 30, maxRecords: 1_000_000 });
    expect(sut.env).to.equal('development');
    expect(sut.configFile).to.equal(undefined);
  });

  it('lets the environment override the config file, and the file override defaults', () => {
    writeFileSync(path.join(dir, 'config.yaml'), 'api_port: 9000\nEZ_GATEWAY_PORT: 9001\nlog_level: debug\n');
    const sut = loadConfig({ env: { EZ_API_PORT: '9100' }, cwd: dir });
    expect(sut.apiPort).to.equal(9100);
    expect(sut.gatewayPort).to.equal(9001);
    expect(sut.log.level).to.equal('debug');
    expect(sut.configFile).to.equal(path.join(dir, 'config.yaml'));
  });

  it('finds config/config.yaml and honours EZ_CONFIG_FILE first', () => {
    mkdirSync(path.join(dir, 'config'));
    writeFileSync(path.join(dir, 'config', 'config.yaml'), 'api_port: 9200\n');
    expect(loadConfig({ env: {}, cwd: dir }).apiPort).to.equal(9200);
    writeFileSync(path.join(dir, 'other.yaml'), 'api_port: 9300\n');
    expect(loadConfig({ env: { EZ_CONFIG_FILE: 'other.yaml' }, cwd: dir }).apiPort).to.equal(9300);
  });

  it('names the variable when a value is invalid', () => {
    const problems = problemsOf(() => loadConfig({ env: { EZ_API_PORT: 'eighty', EZ_LOG_LEVEL: 'loud' }, cwd: dir }));
    expect(problems.some((p) => p.startsWith('EZ_API_PORT:'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('EZ_LOG_LEVEL:'))).to.equal(true);
  });

  it('names the variable when a config-file value is invalid', () => {
    writeFileSync(path.join(dir, 'config.yaml'), 'gateway_port: 70000\n');
    expect(problemsOf(() => loadConfig({ env: {}, cwd: dir }))[0]).to.match(/^EZ_GATEWAY_PORT:/);
  });

  it('refuses unknown settings in the config file and a missing EZ_CONFIG_FILE', () => {
    writeFileSync(path.join(dir, 'config.yaml'), 'api_prot: 1\n');
    expect(problemsOf(() => loadConfig({ env: {}, cwd: dir }))[0]).to.include('unknown setting "api_prot"');
    expect(problemsOf(() => loadConfig({ env: { EZ_CONFIG_FILE: 'nope.yaml' }, cwd: dir }))[0]).to.match(/^EZ_CONFIG_FILE:/);
  });

  it('requires EZ_SECRET in production and names it', () => {
    const problems = problemsOf(() => loadConfig({ env: { NODE_ENV: 'production' }, cwd: dir }));
    expect(problems[0]).to.match(/^EZ_SECRET: required in production/);
    const sut = loadConfig({ env: { EZ_ENV: 'production', EZ_SECRET: 'x'.repeat(32) }, cwd: dir });
    expect(sut.isDev).to.equal(false);
  });

  it('rejects a short secret and a malformed database URL', () => {
    const problems = problemsOf(() => loadConfig({ env: { EZ_SECRET: 'short', EZ_PG_DSN: 'mysql://x' }, cwd: dir }));
    expect(problems.map((p) => p.split(':')[0])).to.have.members(['EZ_SECRET', 'EZ_PG_DSN']);
  });

  it('builds the Redis URL from EZ_REDIS_ADDR and EZ_REDIS_DB, and prefers EZ_REDIS_URL', () => {
    expect(loadConfig({ env: { EZ_REDIS_ADDR: 'cache:6380', EZ_REDIS_DB: '2' }, cwd: dir }).redis).to.deep.equal({
      url: 'redis://cache:6380/2',
      defaulted: false,
    });
    expect(loadConfig({ env: { EZ_REDIS_ADDR: 'cache:6380', EZ_REDIS_URL: 'rediss://r:1/3' }, cwd: dir }).redis.url).to.equal(
      'rediss://r:1/3',
    );
  });

  it('splits EZ_WORKER_QUEUES into names', () => {
    expect(loadConfig({ env: { EZ_WORKER_QUEUES: 'sync, logs,,' }, cwd: dir }).worker.queues).to.deep.equal(['sync', 'logs']);
  });
});
