/** The rate limiter's buckets in Redis (scaled out: every API process draws from the same buckets). */
import type { Redis } from 'ioredis';
import type { BucketStore, BucketTake } from '../core/rate-limit.ts';
import { pingRedis } from './redis.ts';

/**
 * The same bucket, kept in a Redis hash per key and updated by one Lua script (atomic across API
 * processes, timed by the Redis server's clock so the processes' clocks need not agree). A key
 * expires once its bucket would be full again. A Redis that cannot be reached lets the request
 * through (logged): an API that refuses everyone while Redis restarts is worse than one briefly
 * unlimited.
 */
export class RedisBuckets implements BucketStore {
  constructor(
    /** A connection that fails fast rather than waiting through a reconnect (enableOfflineQueue: false). */
    private readonly redis: Redis,
    private readonly keyPrefix = 'darkroom:ratelimit:',
    private readonly log: (message: string) => void = () => undefined,
  ) {
    redis.defineCommand('darkroomTakeToken', { numberOfKeys: 1, lua: TAKE_TOKEN });
  }

  async take(key: string, perSecond: number): Promise<BucketTake> {
    let reply: [number, string];
    try {
      reply = (await (this.redis as unknown as { darkroomTakeToken(key: string, rate: number): Promise<[number, string]> }).darkroomTakeToken(this.keyPrefix + key, perSecond));
    } catch (err) {
      this.log(`rate limit not checked (redis: ${err instanceof Error ? err.message : String(err)}); request let through`);
      return { taken: true, tokens: perSecond - 1 };
    }
    const [taken, value] = reply;
    return taken === 1 ? { taken: true, tokens: Number(value) } : { taken: false, waitMs: Number(value) };
  }

  /** Readiness: Redis answers. */
  ping(timeoutMs = 2000): Promise<void> {
    return pingRedis(this.redis, timeoutMs);
  }
}

/** KEYS[1] the bucket; ARGV[1] tokens per second (= capacity). Returns {1, tokens left} or {0, ms until one token}. */
const TAKE_TOKEN = `
local rate = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = rate; at = now end
tokens = math.min(rate, tokens + math.max(0, now - at) / 1000 * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((rate - tokens) / rate * 1000) + 1000)
if taken == 1 then return {1, tostring(tokens)} end
return {0, tostring((1 - tokens) / rate * 1000)}
`;
