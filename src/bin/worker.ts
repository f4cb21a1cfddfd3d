// Procfile entry for the worker process; the same as `ez-api serve worker`.
import { exitWithProblem, serve } from './runtime.js';

serve('worker').catch(exitWithProblem);
