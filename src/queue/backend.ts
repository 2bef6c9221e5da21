/**
 * The queue backend chosen by configuration, for the composition root: in this process when no
 * DARKROOM_REDIS_URL is set (embedded mode), else BullMQ and Redis pub/sub (scaled out), loaded only
 * then: BullMQ and ioredis take half a second to import, which embedded mode's start-up never pays.
 */
import type { Config } from '../config/config.ts';
import { MemoryBuckets, RateLimiter } from '../core/rate-limit.ts';
import type { GiveUpHandler } from './bullmq.ts';
import { InProcessEventBus, InProcessJobQueue } from './in-process.ts';
import type { QueueLog } from './redis.ts';
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

export async function openQueueBackend(
  config: Pick<Config, 'redisUrl' | 'rateLimit'>,
  log: QueueLog = () => undefined,
  options: QueueBackendOptions = {},
): Promise<QueueBackend> {
  if (config.redisUrl) {
    const { openRedisBackend } = await import('./redis-backend.ts');
    return openRedisBackend(config.redisUrl, config.rateLimit, log, options);
  }
  const queues = new Map<string, JobQueue>();
  let closing: Promise<void> | undefined;
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
