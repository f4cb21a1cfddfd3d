import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { adminsCommand } from '../../src/bin/admins.command.js';
import { verifyPassword } from '../../src/lib/password.js';
import { useCli } from '../support/cli.js';
import { testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

interface AdminRow {
  id: number;
  name: string;
  role: string;
  password_hash: string;
  token_epoch: number;
}

const adminRow = async (name: string) => (await testEnv().knex('admins').where({ name }).first()) as AdminRow | undefined;

describe('ez-api admins (CLI)', function () {
  // Each case spawns the CLI (tsx) a few times.
  this.timeout(120_000);
  const cli = useCli('admins-cli');

  /** The CLI with `input` piped on stdin (useCli's runs get /dev/null). */
  function piped(args: string[], input: string): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/ez-api.ts', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        EZ_ENV: 'test',
        EZ_PG_DSN: testEnv().pgUrl,
        EZ_REDIS_URL: testEnv().redisUrl,
        EZ_SECRET: TEST_SECRET,
        EZ_DATA_DIR: cli.dataDir(),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdin.end(input);
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
  }

  it('create without a piped password generates one, prints it once and stores only its hash', async () => {
    const { code, output } = await cli.run(['admins', 'create', 'Root']);
    expect(code, output).to.equal(0);
    expect(output).to.match(/Created admin root \(id \d+, role admin\)/);
    const password = /Password \(shown once, store it now\): (\S+)/.exec(output)?.[1];
    expect(password).to.match(/^[A-Za-z0-9_-]{24}$/);
    const row = (await adminRow('root'))!;
    expect(row.role).to.equal('admin');
    expect(row.password_hash).to.not.contain(password!);
    expect(await verifyPassword(password!, row.password_hash)).to.equal(true);
    const [event] = await testEnv().knex('audit_events').select('actor_type', 'actor_id', 'action', 'metadata');
    expect(event).to.deep.include({ actor_type: 'system', actor_id: 'admins-cli', action: 'admin.create' });
    expect(JSON.stringify(event)).to.not.contain(password!);
  });

  it('create and reset-password take a piped password and never print it; reset-password ends the sessions', async () => {
    const created = await piped(['admins', 'create', 'bob', '--role', 'viewer'], 'bob-piped-password-1\n');
    expect(created.code, created.output).to.equal(0);
    expect(created.output).to.not.contain('bob-piped-password-1');
    expect(created.output).to.not.contain('Password');
    const before = (await adminRow('bob'))!;
    expect(before.role).to.equal('viewer');
    expect(await verifyPassword('bob-piped-password-1', before.password_hash)).to.equal(true);

    const reset = await piped(['admins', 'reset-password', 'BOB'], 'bob-piped-password-2');
    expect(reset.code, reset.output).to.equal(0);
    expect(reset.output).to.include('Reset the password of admin bob');
    expect(reset.output).to.not.contain('bob-piped-password-2');
    const after = (await adminRow('bob'))!;
    expect(await verifyPassword('bob-piped-password-2', after.password_hash)).to.equal(true);
    expect(after.token_epoch).to.equal(before.token_epoch + 1);

    const short = await piped(['admins', 'create', 'carol'], 'too-short\n');
    expect(short.code, short.output).to.equal(2);
    expect(short.output).to.include('must be 12–256 characters');
    expect(await adminRow('carol')).to.equal(undefined);
  });

  it('list shows names, roles and status (table or --json) without hashes', async () => {
    expect((await cli.run(['admins', 'create', 'alpha'])).code).to.equal(0);
    expect((await cli.run(['admins', 'create', 'beta', '--role', 'viewer'])).code).to.equal(0);
    const table = await cli.run(['admins', 'list']);
    expect(table.code, table.output).to.equal(0);
    expect(table.output).to.match(/ID\s+NAME\s+ROLE\s+STATUS\s+LAST LOGIN/);
    expect(table.output).to.match(/alpha\s+admin\s+active\s+-/);
    expect(table.output).to.match(/beta\s+viewer\s+active\s+-/);
    const json = await cli.run(['admins', 'list', '--json']);
    expect(json.code, json.output).to.equal(0);
    expect((JSON.parse(json.output) as Array<{ name: string; role: string }>).map((a) => [a.name, a.role])).to.deep.equal([['alpha', 'admin'], ['beta', 'viewer']]);
    expect(table.output + json.output).to.not.contain('scrypt');
  });

  it('refuses a taken name, an unknown name and bad usage with clear messages', async () => {
    expect((await cli.run(['admins', 'create', 'dup'])).code).to.equal(0);
    const taken = await cli.run(['admins', 'create', 'DUP']);
    expect(taken.code).to.equal(1);
    expect(taken.output).to.include('An admin named dup already exists');
    const unknown = await cli.run(['admins', 'reset-password', 'nobody']);
    expect(unknown.code).to.equal(1);
    expect(unknown.output).to.include('no admin named nobody');
    // Usage errors are refused before anything connects: checked in-process.
    for (const [args, text] of [
      [[], 'missing subcommand'],
      [['create'], 'create needs a NAME'],
      [['create', 'bad name!'], 'NAME must be'],
      [['create', 'x', '--role', 'root'], '--role must be admin or viewer'],
      [['list', '--role', 'admin'], '--role goes with create'],
      [['drop', 'x'], 'unknown subcommand "drop"'],
    ] as Array<[string[], string]>) {
      let output = '';
      const io = { out: async (t: string) => void (output += t), err: async (t: string) => void (output += t) };
      expect(await adminsCommand(args, io), args.join(' ')).to.equal(2);
      expect(output).to.include(text);
      expect(output).to.include('Usage: ez-api admins');
    }
  });
});
