export { createLimiter, type Limiter, type LimiterOptions } from './limiter.js';
export {
  LimiterUnavailableError,
  type AdmitRequest,
  type AdmitResult,
  type LimitReason,
  type RedisFailureMode,
  type Refusal,
  type Reservation,
  type SpendActual,
  type SpendLimits,
  type SpendRequest,
  type SpendReservation,
} from './limit-types.js';
export { PERIOD_TTL_MARGIN_MS } from './spend.js';
export { LimitKeys, STATS_TTL_SECONDS } from './limit-keys.js';
export { LuaScript } from './lua-script.js';
export { retryAfterSeconds } from './window.js';
