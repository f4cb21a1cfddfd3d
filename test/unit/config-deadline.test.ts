import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/lib/config.js';

describe('loadConfig: EZ_GATEWAY_REQUEST_DEADLINE_MS', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ez-config-deadline-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig({ env, cwd: dir });
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    expect.fail('expected a ConfigError');
  };

  it('defaults the gateway deadline to 10 minutes', () => {
    expect(loadConfig({ env: {}, cwd: dir }).http.gatewayDeadlineMs).to.equal(600_000);
  });

  it('reads it from the environment and from the config file', () => {
    expect(loadConfig({ env: { EZ_GATEWAY_REQUEST_DEADLINE_MS: '90000' }, cwd: dir }).http.gatewayDeadlineMs).to.equal(90_000);
    writeFileSync(path.join(dir, 'config.yaml'), 'gateway_request_deadline_ms: 1000\n');
    expect(loadConfig({ env: {}, cwd: dir }).http.gatewayDeadlineMs).to.equal(1_000);
  });

  for (const value of ['0', '999', '-5', '1.5', 'soon']) {
    it(`refuses ${value} and names the variable`, () => {
      const problems = problemsOf({ EZ_GATEWAY_REQUEST_DEADLINE_MS: value });
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^EZ_GATEWAY_REQUEST_DEADLINE_MS: /);
    });
  }
});
