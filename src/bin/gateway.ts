// Procfile entry for the gateway process; the same as `ez-api serve gateway`.
import { exitWithProblem, serve } from './runtime.js';

serve('gateway').catch(exitWithProblem);
