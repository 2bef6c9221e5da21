/** The scaled-out queue backend: BullMQ queues, Redis pub/sub events and Redis rate-limit buckets. */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { RateLimiter } from '../core/rate-limit.ts';
import type { QueueBackend, QueueBackendOptions } from './backend.ts';
import { BullJobQueue } from './bullmq.ts';
import { REDIS_PREFIX, closeRedis, openRedis, type QueueLog } from './redis.ts';
import { RedisEventBus } from './redis-events.ts';
import { RedisBuckets } from './redis-rate-limit.ts';
import type { JobQueue } from './types.ts';

export function openRedisBackend(url: string, rateLimit: Config['rateLimit'], log: QueueLog, options: QueueBackendOptions): QueueBackend {
  const queues = new Map<string, JobQueue & { ping?(): Promise<void> }>();
  let closing: Promise<void> | undefined;
  const prefix = options.prefix ?? REDIS_PREFIX;
  const events = new RedisEventBus({ url, prefix: `${prefix}:`, log });
  // The limiter fails fast (and lets the request through) while Redis is away, rather than holding requests.
  const limiterRedis: Redis = openRedis(url, 'rate limit', log, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const buckets = new RedisBuckets(limiterRedis, `${prefix}:ratelimit:`, log);
  return {
    kind: 'redis',
    queue(role) {
      if (closing) throw new Error('the queue backend is closed');
      let q = queues.get(role);
      if (!q) {
        q = new BullJobQueue({
          url,
          name: role,
          prefix,
          log,
          lockDurationMs: options.lockDurationMs,
          stalledIntervalMs: options.stalledIntervalMs,
          onGiveUp: options.onGiveUp && ((job, reason) => options.onGiveUp!(job, reason)),
        });
        queues.set(role, q);
      }
      return q;
    },
    events,
    rateLimiter: new RateLimiter(rateLimit, buckets),
    async ping() {
      await Promise.all([events.ping(), buckets.ping(), ...[...queues.values()].map((q) => q.ping?.())]);
    },
    close(o = {}) {
      closing ??= (async () => {
        await Promise.all([...queues.values()].map((q) => q.close(o)));
        await events.close();
        await closeRedis(limiterRedis);
      })();
      return closing;
    },
  };
}
