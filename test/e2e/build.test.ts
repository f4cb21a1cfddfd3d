import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * The Procfile and the Docker image run the `tsc` build, not tsx: it must compile, load its ESM
 * imports (CommonJS packages included) and find its migrations.
 */
describe('the production build', function () {
  this.timeout(120_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ez-build-'));
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'knexfile.ts', 'src', 'jobs', 'migrations']) {
      cpSync(path.resolve(entry), path.join(dir, entry), { recursive: true });
    }
    symlinkSync(path.resolve('node_modules'), path.join(dir, 'node_modules'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles, runs `ez-api --version`, and lists its compiled migrations', () => {
    const build = spawnSync(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).to.equal(0);
    const version = spawnSync(process.execPath, ['dist/src/bin/ez-api.js', '--version'], { cwd: dir, encoding: 'utf8' });
    expect(version.status, version.stderr).to.equal(0);
    expect(version.stdout).to.match(/^ez-api \d+\.\d+\.\d+/);
    const load = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('./dist/src/db/knex.js'); const fs = await import('node:fs'); console.log(fs.readdirSync(m.MIGRATIONS_DIR).filter((f) => f.endsWith('.js')).length)"],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(load.status, load.stderr).to.equal(0);
    expect(Number(load.stdout.trim())).to.be.greaterThan(15);
    const gateway = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('./dist/src/gateway/server.js'); await import('./dist/jobs/worker.js'); await import('./dist/src/api/server.js'); console.log('ok')"], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(gateway.stdout.trim(), gateway.stderr).to.equal('ok');
  });
});
