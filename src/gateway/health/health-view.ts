import {
  CLOSED,
  DEFAULT_BREAKER_CONFIG,
  breakerAllows,
  breakerAt,
  breakerAttempt,
  breakerRelease,
  breakerResult,
  type BreakerConfig,
  type BreakerKind,
  type BreakerState,
} from './breaker.js';

/**
 * Who wrote a shared fact, and when: last writer wins, ties broken by origin (a random id per
 * store instance), so every gateway converges on the same value whatever order messages arrive in.
 */
export interface Stamp {
  at: number;
  origin: string;
}

/** The part of a breaker other gateways learn: `open` (with its period) or `closed`. */
export interface SharedBreaker extends Stamp {
  state: 'open' | 'closed';
  untilMs: number;
  reopens: number;
}

/** A ban (`untilMs` null = until lifted) or, with `lifted`, its removal. */
export interface SharedBan extends Stamp {
  reason: string;
  untilMs: number | null;
  lifted: boolean;
}

export type HealthChange =
  | { type: 'breaker'; keyId: number; value: SharedBreaker }
  | { type: 'ban'; keyId: number; value: SharedBan }
  | { type: 'cooldown'; keyId: number; untilMs: number };

/** What is known about one upstream key right now (for routing, /health and metrics). */
export interface KeyHealth {
  keyId: number;
  available: boolean;
  breaker: BreakerKind;
  /** When the breaker may half-open (open only). */
  breakerUntilMs: number | null;
  coolingUntilMs: number | null;
  ban: { reason: string; untilMs: number | null } | null;
}

interface Entry {
  breaker: BreakerState;
  breakerStamp: Stamp;
  cooldownUntilMs: number;
  ban: SharedBan | null;
}

const NEVER: Stamp = Object.freeze({ at: Number.NEGATIVE_INFINITY, origin: '' });

export function isNewer(a: Stamp, b: Stamp): boolean {
  return a.at > b.at || (a.at === b.at && a.origin > b.origin);
}

/**
 * The in-process view of every key's health: what both stores read on the hot path (synchronous,
 * no I/O). Local observations return the change to share; remote changes are merged last-writer-wins.
 */
export class HealthView {
  private readonly entries = new Map<number, Entry>();
  /** Last stamp issued: stamps of one origin strictly increase, so two changes in one ms still order. */
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly origin: string,
    readonly config: BreakerConfig = DEFAULT_BREAKER_CONFIG,
  ) {}

  isAvailable(keyId: number, nowMs: number): boolean {
    const e = this.entries.get(keyId);
    if (!e) return true;
    if (banActive(e.ban, nowMs)) return false;
    if (nowMs < e.cooldownUntilMs) return false;
    return breakerAllows(e.breaker, nowMs, this.config);
  }

  tryAcquire(keyId: number, nowMs: number): boolean {
    if (!this.isAvailable(keyId, nowMs)) return false;
    const e = this.entries.get(keyId);
    if (!e) return true;
    const { state, allowed } = breakerAttempt(e.breaker, nowMs, this.config);
    e.breaker = state;
    return allowed;
  }

  /** Frees a claimed half-open probe that ended without a verdict (nothing to share). */
  release(keyId: number, nowMs: number): void {
    const e = this.entries.get(keyId);
    if (e) e.breaker = breakerRelease(e.breaker, nowMs);
  }

  /** Records an outcome; returns the change to share when the breaker opened or closed. */
  record(keyId: number, ok: boolean, nowMs: number): HealthChange | null {
    let e = this.entries.get(keyId);
    if (!e) {
      if (ok) return null; // a healthy key with no history needs no entry
      e = this.entry(keyId);
    }
    const before = breakerAt(e.breaker, nowMs).kind;
    e.breaker = breakerResult(e.breaker, ok, nowMs, this.config);
    const after = e.breaker.kind;
    if (after === before || (after !== 'open' && after !== 'closed')) return null;
    const value: SharedBreaker = {
      state: after,
      untilMs: e.breaker.kind === 'open' ? e.breaker.untilMs : 0,
      reopens: e.breaker.kind === 'open' ? e.breaker.reopens : 0,
      at: this.nextAt(nowMs),
      origin: this.origin,
    };
    e.breakerStamp = value;
    return { type: 'breaker', keyId, value };
  }

  coolDown(keyId: number, untilMs: number): HealthChange | null {
    const e = this.entry(keyId);
    if (untilMs <= e.cooldownUntilMs) return null;
    e.cooldownUntilMs = untilMs;
    return { type: 'cooldown', keyId, untilMs };
  }

  ban(keyId: number, reason: string, untilMs: number | null, nowMs: number): HealthChange {
    const value: SharedBan = { reason, untilMs, lifted: false, at: this.nextAt(nowMs), origin: this.origin };
    this.entry(keyId).ban = value;
    return { type: 'ban', keyId, value };
  }

  unban(keyId: number, nowMs: number): HealthChange {
    const value: SharedBan = { reason: '', untilMs: 0, lifted: true, at: this.nextAt(nowMs), origin: this.origin };
    this.entry(keyId).ban = value;
    return { type: 'ban', keyId, value };
  }

  /** Merges a change learnt from another store instance; true when it changed the view. */
  apply(change: HealthChange): boolean {
    const e = this.entry(change.keyId);
    switch (change.type) {
      case 'cooldown':
        if (change.untilMs <= e.cooldownUntilMs) return false;
        e.cooldownUntilMs = change.untilMs;
        return true;
      case 'ban':
        if (e.ban && !isNewer(change.value, e.ban)) return false;
        e.ban = change.value;
        return true;
      case 'breaker': {
        const v = change.value;
        if (!isNewer(v, e.breakerStamp)) return false;
        e.breakerStamp = { at: v.at, origin: v.origin };
        e.breaker = v.state === 'open' ? { kind: 'open', untilMs: v.untilMs, reopens: v.reopens } : CLOSED;
        return true;
      }
    }
  }

  inspect(keyId: number, nowMs: number): KeyHealth {
    const e = this.entries.get(keyId);
    const breaker = e ? breakerAt(e.breaker, nowMs) : CLOSED;
    const ban = e && banActive(e.ban, nowMs) && e.ban ? { reason: e.ban.reason, untilMs: e.ban.untilMs } : null;
    return {
      keyId,
      available: this.isAvailable(keyId, nowMs),
      breaker: breaker.kind,
      breakerUntilMs: breaker.kind === 'open' ? breaker.untilMs : null,
      coolingUntilMs: e && nowMs < e.cooldownUntilMs ? e.cooldownUntilMs : null,
      ban,
    };
  }

  private nextAt(nowMs: number): number {
    this.lastAt = Math.max(nowMs, this.lastAt + 1);
    return this.lastAt;
  }

  private entry(keyId: number): Entry {
    let e = this.entries.get(keyId);
    if (!e) {
      e = { breaker: CLOSED, breakerStamp: NEVER, cooldownUntilMs: 0, ban: null };
      this.entries.set(keyId, e);
    }
    return e;
  }
}

function banActive(ban: SharedBan | null, nowMs: number): boolean {
  return ban !== null && !ban.lifted && (ban.untilMs === null || nowMs < ban.untilMs);
}
