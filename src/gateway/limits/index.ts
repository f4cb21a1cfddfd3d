export { createLimiter, type Limiter, type LimiterOptions } from './limiter.js';
export {
  LimiterUnavailableError,
  type AdmitRequest,
  type AdmitResult,
  type LimitReason,
  type RedisFailureMode,
  type Reservation,
} from './limit-types.js';
export { LimitKeys, STATS_TTL_SECONDS } from './limit-keys.js';
export { LuaScript } from './lua-script.js';
export { retryAfterSeconds } from './window.js';
