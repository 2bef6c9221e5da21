/**
 * Requests per second per API key: a token bucket per key (burst = the per-second limit). The buckets
 * live in this process (MemoryBuckets, embedded mode) or in Redis (RedisBuckets in queue/redis-rate-limit.ts,
 * scaled out: every API process draws from the same buckets), with the same arithmetic either way.
 */
import { RateLimitedError } from './errors.ts';

/** What a bucket store answers for one request. */
export type BucketTake = { taken: true; tokens: number } | { taken: false; waitMs: number };

/** Where the buckets live. */
export interface BucketStore {
  /** Takes one token from `key`'s bucket (capacity and refill per second both `perSecond`); when none is left, how long until one is. */
  take(key: string, perSecond: number): Promise<BucketTake>;
}

export class RateLimiter {
  constructor(
    /** Requests per second; 0 turns the limiter off. */
    readonly perSecond: number,
    private readonly buckets: BucketStore = new MemoryBuckets(),
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from `key`'s bucket; RateLimitedError (with Retry-After seconds) when empty. Returns what is left. */
  async take(key: string): Promise<{ limit: number; remaining: number }> {
    if (this.perSecond <= 0) return { limit: 0, remaining: 0 };
    const r = await this.buckets.take(key, this.perSecond);
    if (!r.taken) throw new RateLimitedError(Math.max(1, Math.ceil(r.waitMs / 1000)), this.perSecond, Math.ceil((this.now() + r.waitMs) / 1000));
    return { limit: this.perSecond, remaining: Math.floor(r.tokens) };
  }
}

/** Buckets in this process's memory. */
export class MemoryBuckets implements BucketStore {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async take(key: string, perSecond: number): Promise<BucketTake> {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: perSecond, at: now };
    b.tokens = Math.min(perSecond, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (++this.sweeps % 1000 === 0) this.sweep(now);
    if (b.tokens < 1) return { taken: false, waitMs: ((1 - b.tokens) / perSecond) * 1000 };
    b.tokens -= 1;
    return { taken: true, tokens: b.tokens };
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(k);
  }
}
