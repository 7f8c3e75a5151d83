/**
 * Rate limiting with rate-limiter-flexible. Every limiter answers "allowed" or "retry after N ms";
 * the dispatcher turns the latter into a `rate_limited` response, never a crash. The memory store
 * expires idle keys on its own, so a flood of distinct keys cannot grow memory without bound.
 */
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export type LimitDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export interface Limiter {
  consume(key: string, points?: number): Promise<LimitDecision>;
}

export interface LimiterSpec {
  /** Distinguishes limiters sharing one store. */
  readonly name: string;
  readonly points: number;
  readonly durationSec: number;
  /** Extra points allowed in a short burst above the sustained rate. */
  readonly burst?: { readonly points: number; readonly durationSec: number };
}

export interface LimiterFactory {
  create(spec: LimiterSpec): Limiter;
}

const ALLOWED: LimitDecision = Object.freeze({ allowed: true });

function wrap(limiter: RateLimiterAbstract | BurstyRateLimiter): Limiter {
  return {
    async consume(key, points = 1) {
      try {
        await limiter.consume(key, points);
        return ALLOWED;
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, rejection.msBeforeNext) };
        throw rejection;
      }
    },
  };
}

export class MemoryLimiterFactory implements LimiterFactory {
  create(spec: LimiterSpec): Limiter {
    const base = new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration: spec.durationSec });
    if (!spec.burst) return wrap(base);
    const burst = new RateLimiterMemory({ keyPrefix: `${spec.name}:burst`, points: spec.burst.points, duration: spec.burst.durationSec });
    return wrap(new BurstyRateLimiter(base, burst));
  }
}
