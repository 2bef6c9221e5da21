/**
 * Requests per second per API key: a token bucket per key (burst = the per-second limit), kept in
 * this process. Scaled out, each API process limits separately (a Redis-backed limiter is the
 * scale-out issue's).
 */
import { RateLimitedError } from './errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweeps = 0;

  constructor(
    /** Requests per second; 0 turns the limiter off. */
    readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from `key`'s bucket; RateLimitedError (with Retry-After seconds) when empty. Returns what is left. */
  take(key: string): { limit: number; remaining: number } {
    if (this.perSecond <= 0) return { limit: 0, remaining: 0 };
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.perSecond, at: now };
    b.tokens = Math.min(this.perSecond, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (++this.sweeps % 1000 === 0) this.sweep(now);
    if (b.tokens < 1) {
      const waitMs = ((1 - b.tokens) / this.perSecond) * 1000;
      throw new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)), this.perSecond, Math.ceil((now + waitMs) / 1000));
    }
    b.tokens -= 1;
    return { limit: this.perSecond, remaining: Math.floor(b.tokens) };
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(k);
  }
}
