import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function findPackageJson(): { name: string; version: string } {
  // src/lib → repository root; dist/src/lib → two more levels.
  for (const up of ['../..', '../../..']) {
    try {
      return JSON.parse(readFileSync(path.resolve(here, up, 'package.json'), 'utf8')) as { name: string; version: string };
    } catch {
      // try the next candidate
    }
  }
  return { name: 'ez-api', version: '0.0.0' };
}

function findCommit(): string {
  const fromEnv = process.env.EZ_COMMIT ?? process.env.SOURCE_COMMIT ?? process.env.GIT_COMMIT;
  if (fromEnv) return fromEnv.slice(0, 40);
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000 }).trim();
  } catch {
    return 'unknown';
  }
}

const pkg = findPackageJson();

/** Name, version and commit of this build, for `/about` and `ez-api --version`. */
export const buildInfo = Object.freeze({ name: pkg.name, version: pkg.version, commit: findCommit() });
