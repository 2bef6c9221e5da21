/**
 * The queue backend chosen by configuration, for the composition root: in this process when no
 * DARKROOM_REDIS_URL is set (embedded mode), else BullMQ and Redis pub/sub (scaled out).
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { MemoryBuckets, RateLimiter } from '../core/rate-limit.ts';
import { BullJobQueue, type GiveUpHandler } from './bullmq.ts';
import { InProcessEventBus, InProcessJobQueue } from './in-process.ts';
import { REDIS_PREFIX, closeRedis, openRedis, type QueueLog } from './redis.ts';
import { RedisEventBus } from './redis-events.ts';
import { RedisBuckets } from './redis-rate-limit.ts';
import type { EventBus, JobQueue } from './types.ts';

export interface QueueBackend {
  kind: 'in-process' | 'redis';
  /**
   * The queue named `role` (e.g. `jobs`): one object per name in this process, shared by its
   * producer (the core) and its consumer (the worker), so embedded mode's one process meets itself.
   */
  queue(role: string): JobQueue;
  events: EventBus;
  rateLimiter: RateLimiter;
  /** Readiness (/readyz): rejects with the reason when Redis cannot be reached. In-process: resolves. */
  ping(): Promise<void>;
  /** Closes every queue (running jobs get `graceMs`), then the bus and the connections. Idempotent. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export interface QueueBackendOptions {
  /**
   * BullMQ only: a job given up for good (stalled too often, or an error escaped its handler). Bind
   * it late if the core is built after the backend: `onGiveUp: (job, why) => jobs.giveUp(job, why)`.
   */
  onGiveUp?: GiveUpHandler;
  /** BullMQ lock on a running job (default 30 s): how soon a dead worker's job goes to another. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Key and channel prefix in Redis (default `darkroom`): deployments sharing one Redis differ here. */
  prefix?: string;
}

export function openQueueBackend(config: Pick<Config, 'redisUrl' | 'rateLimit'>, log: QueueLog = () => undefined, options: QueueBackendOptions = {}): QueueBackend {
  const queues = new Map<string, JobQueue & { ping?(): Promise<void> }>();
  let closing: Promise<void> | undefined;
  const url = config.redisUrl;

  if (!url) {
    const events = new InProcessEventBus();
    return {
      kind: 'in-process',
      queue(role) {
        if (closing) throw new Error('the queue backend is closed');
        let q = queues.get(role);
        if (!q) queues.set(role, (q = new InProcessJobQueue(log)));
        return q;
      },
      events,
      rateLimiter: new RateLimiter(config.rateLimit, new MemoryBuckets()),
      ping: async () => undefined,
      close(o = {}) {
        closing ??= (async () => {
          await Promise.all([...queues.values()].map((q) => q.close(o)));
          await events.close();
        })();
        return closing;
      },
    };
  }

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
    rateLimiter: new RateLimiter(config.rateLimit, buckets),
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
