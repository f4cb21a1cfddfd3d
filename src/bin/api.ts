// Procfile entry for the api process; the same as `ez-api serve api`.
import { exitWithProblem, serve } from './runtime.js';

serve('api').catch(exitWithProblem);
