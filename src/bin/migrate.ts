// Procfile `release` entry: apply pending migrations, then exit.
import { bootstrap, exitWithProblem, runMigrations } from './runtime.js';

runMigrations(bootstrap('migrate')).catch(exitWithProblem);
