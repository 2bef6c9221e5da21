/**
 * The job queue over Redis with BullMQ (scaled out: API processes add, worker processes consume).
 *
 * - One BullMQ Queue (the producer side) per object, and one BullMQ Worker once process() is called.
 *   A job's BullMQ name is its type, its data the Job itself, its BullMQ id the Job's id: adding an id
 *   that is waiting or running is a no-op; one that finished (completed jobs are removed at once,
 *   failed ones kept a while) is enqueued again.
 * - A consumer that dies mid-job stops renewing the job's lock; BullMQ's stalled-job check (in every
 *   Worker) notices after about lockDurationMs + stalledIntervalMs and hands the job to another
 *   consumer, once (maxStalledCount 1). Stalled a second time, the job fails for good and `onGiveUp`
 *   is called, so the core can fail it and refund it.
 * - Handlers record their own failures and resolve; an error escaping one is logged and fails the
 *   job without a retry (attempts 1) — `onGiveUp` is called for it too.
 * - cancel() removes a waiting job, or broadcasts the job's id on the `darkroom:<name>:cancel`
 *   channel, to which every consumer listens; the one running the job aborts its signal.
 * - close() stops fetching; running handlers get the grace period, then their signals abort
 *   (reason JobAbortedError 'shutdown') and, once they return, their jobs go back to waiting for
 *   another consumer (the database's claim decides whether they run again). Waiting jobs stay in Redis.
 *
 * Redis holds only what is waiting and running, and loses it if it restarts without persistence: the
 * database is the truth and re-adds what it thinks lost (add is idempotent). ioredis reconnects after
 * a restart and the Worker resumes consuming.
 */
import { Queue, Worker, WaitingError, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobAbortedError, type Job, type JobHandler, type JobQueue } from './types.ts';
import { REDIS_PREFIX, closeRedis, openRedis, pingRedis, quietErrors, redisOptions, type QueueLog } from './redis.ts';

/**
 * Called when BullMQ gives a job up for good: it stalled more often than allowed (its consumers died)
 * or an error escaped its handler. Called in whichever process notices, possibly more than once and
 * in several processes: the core's transition (fail and refund a job that is still queued or
 * running) is conditional and idempotent, so repeats are harmless.
 */
export type GiveUpHandler = (job: Job, reason: string) => void | Promise<void>;

export interface BullJobQueueOptions {
  /** `redis://…` */
  url: string;
  /** Queue name (default `jobs`): producers and consumers of one queue use the same name. */
  name?: string;
  /** Key prefix in Redis (default `darkroom`). */
  prefix?: string;
  /** Milliseconds a consumer's lock on a running job lasts; renewed every half of it while the job runs (default 30 000). */
  lockDurationMs?: number;
  /** Milliseconds between stalled-job checks (default: lockDurationMs). */
  stalledIntervalMs?: number;
  onGiveUp?: GiveUpHandler;
  /**
   * Milliseconds add(), cancel() and counts() wait for Redis (default 5000) before they reject, so a
   * request does not hang while Redis is away. What timed out may still be carried out once Redis is
   * back (the command waits in the connection's queue): harmless for add (the database's claim finds
   * the job already failed) and cancel.
   */
  commandTimeoutMs?: number;
  /** How long failed jobs are kept in Redis, for inspection (default: an hour, at most 1000). */
  keepFailed?: { ageSeconds: number; count: number };
  log?: QueueLog;
}

/** How long a cancel broadcast for a job this consumer is not (yet) running is remembered. */
const REMEMBER_CANCEL_MS = 60_000;

export class BullJobQueue implements JobQueue {
  private readonly queue: Queue<Job, void, string>;
  /** The producer's connection (BullMQ's Queue shares it): adds, cancel broadcasts, readiness. */
  private readonly conn: Redis;
  private worker?: Worker<Job, void, string>;
  private cancelSub?: Redis;
  private cancelSubscribed?: Promise<void>;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Cancel broadcasts for jobs not running here (yet): a job fetched just after its broadcast still aborts. */
  private readonly cancelledElsewhere = new Map<string, number>();
  private readonly cancelChannel: string;
  private readonly log: QueueLog;
  private closing?: Promise<void>;
  private shuttingDown = false;

  constructor(private readonly options: BullJobQueueOptions) {
    this.log = options.log ?? (() => undefined);
    const name = options.name ?? 'jobs';
    const prefix = options.prefix ?? REDIS_PREFIX;
    this.cancelChannel = `${prefix}:${name}:cancel`;
    const keep = options.keepFailed ?? { ageSeconds: 3600, count: 1000 };
    this.conn = openRedis(options.url, `queue ${name}`, this.log);
    this.queue = new Queue<Job, void, string>(name, {
      connection: this.conn,
      prefix,
      defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: { age: keep.ageSeconds, count: keep.count } },
    });
    this.queue.on('error', () => undefined); // the connection's own listener logs them
  }

  get name(): string {
    return this.queue.name;
  }

  async add(job: Job): Promise<void> {
    if (this.closing) throw new Error('the job queue is closed');
    await this.bounded(this.addNow(job), `add job ${job.id}`);
  }

  private async addNow(job: Job): Promise<void> {
    const id = bullId(job.id);
    const existing = await this.queue.getJob(id);
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
      // Finished: the database wants it run again (it re-adds only what it still thinks queued).
      await existing.remove().catch(() => undefined);
    }
    await this.queue.add(job.type, job, { jobId: id });
  }

  process(handler: JobHandler, options: { concurrency?: number } = {}): void {
    if (this.worker) throw new Error('this queue already has a consumer');
    if (this.closing) throw new Error('the job queue is closed');
    const lockDuration = this.options.lockDurationMs ?? 30_000;
    this.cancelSub = openRedis(this.options.url, `cancel subscriber ${this.queue.name}`, this.log);
    this.cancelSub.on('message', (_channel: string, jobId: string) => this.cancelLocal(jobId, true));
    this.cancelSubscribed = this.cancelSub.subscribe(this.cancelChannel).then(
      () => undefined,
      (err: Error) => this.log(`could not subscribe to cancellations: ${err.message}`),
    );
    this.worker = new Worker<Job, void, string>(this.queue.name, (bj, token) => this.run(bj, token, handler), {
      connection: redisOptions(this.options.url),
      prefix: this.queue.opts.prefix,
      concurrency: Math.max(1, options.concurrency ?? 1),
      lockDuration,
      stalledInterval: this.options.stalledIntervalMs ?? lockDuration,
      maxStalledCount: 1,
    });
    quietErrors(this.worker, `worker ${this.queue.name}`, this.log);
    this.worker.on('failed', (bj, err) => {
      if (bj) this.giveUp(bj.data, err.message);
    });
  }

  private async run(bj: BullJob<Job, void, string>, token: string | undefined, handler: JobHandler): Promise<void> {
    const job = bj.data;
    if (this.closing) return this.requeue(bj, token); // fetched just as close() began: not ours to start
    await this.cancelSubscribed; // from here on a cancel broadcast reaches this job
    const controller = new AbortController();
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    this.running.set(job.id, { controller, done });
    if (this.cancelledElsewhere.delete(job.id)) controller.abort(new JobAbortedError('cancel'));
    if (this.shuttingDown) controller.abort(new JobAbortedError('shutdown'));
    try {
      await handler(job, controller.signal);
    } catch (err) {
      // Handlers record their own failures; anything escaping is a bug worth seeing. It fails the job (no retry).
      this.log(`job ${job.id} (${job.type}) failed outside its handler: ${err instanceof Error ? err.stack : String(err)}`);
      throw err;
    } finally {
      this.running.delete(job.id);
      finished();
    }
    if (controller.signal.reason instanceof JobAbortedError && controller.signal.reason.why === 'shutdown') return this.requeue(bj, token);
  }

  /** Puts a job this consumer holds back to waiting (BullMQ: move, then throw WaitingError so the Worker leaves it there). */
  private async requeue(bj: BullJob<Job, void, string>, token: string | undefined): Promise<void> {
    await bj.moveToWait(token);
    throw new WaitingError();
  }

  private giveUp(job: Job, reason: string): void {
    const onGiveUp = this.options.onGiveUp;
    this.log(`job ${job.id} (${job.type}) given up: ${reason}`);
    if (!onGiveUp) return;
    try {
      Promise.resolve(onGiveUp(job, reason)).catch((err: unknown) => this.log(`onGiveUp for job ${job.id} failed: ${err instanceof Error ? err.message : String(err)}`));
    } catch (err) {
      this.log(`onGiveUp for job ${job.id} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Aborts the job when it runs here; `remember`: else keep the request a while, in case it is about to start here. */
  private cancelLocal(jobId: string, remember: boolean): boolean {
    const r = this.running.get(jobId);
    if (r) {
      r.controller.abort(new JobAbortedError('cancel'));
      return true;
    }
    if (remember) {
      const now = Date.now();
      for (const [id, at] of this.cancelledElsewhere) if (now - at > REMEMBER_CANCEL_MS) this.cancelledElsewhere.delete(id);
      this.cancelledElsewhere.set(jobId, now);
    }
    return false;
  }

  async cancel(jobId: string): Promise<boolean> {
    if (this.cancelLocal(jobId, false)) return true;
    return this.bounded(this.cancelRemote(jobId), `cancel job ${jobId}`);
  }

  private async cancelRemote(jobId: string): Promise<boolean> {
    const bj = await this.queue.getJob(bullId(jobId));
    if (!bj) return false;
    const state = await bj.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return false;
    if (state !== 'active') {
      try {
        await bj.remove();
        return true;
      } catch {
        // A consumer took it meanwhile (it is locked): it runs now, so broadcast.
      }
    }
    await this.conn.publish(this.cancelChannel, jobId);
    return true;
  }

  async counts(): Promise<{ waiting: number; running: number }> {
    const c = await this.bounded(this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'paused', 'waiting-children', 'active'), 'count jobs');
    return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0) + (c['waiting-children'] ?? 0), running: c.active ?? 0 };
  }

  /** `work`, or a rejection once it has taken commandTimeoutMs (Redis away). */
  private async bounded<T>(work: Promise<T>, what: string): Promise<T> {
    const ms = this.options.commandTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    work.catch(() => undefined); // a late failure, after the timeout, is nobody's to hear
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms (${what}; connection ${this.conn.status})`)), ms))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Readiness: Redis answers (and, for a consumer, its cancellation channel is connected). */
  async ping(timeoutMs = 2000): Promise<void> {
    await Promise.all([pingRedis(this.conn, timeoutMs), this.cancelSub && pingRedis(this.cancelSub, timeoutMs)]);
  }

  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      const worker = this.worker;
      // Stop fetching (a job fetched meanwhile is handed back by run()).
      await worker?.pause(true).catch((err: Error) => this.log(`pausing the worker: ${err.message}`));
      const graceMs = options.graceMs ?? 0;
      if (graceMs > 0 && this.running.size) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.handlersReturned(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
      }
      this.shuttingDown = true;
      for (const r of this.running.values()) r.controller.abort(new JobAbortedError('shutdown'));
      await this.handlersReturned();
      if (worker) await this.closeWorker(worker);
      if (this.cancelSub) await closeRedis(this.cancelSub);
      await this.queue.close().catch((err: Error) => this.log(`closing the queue: ${err.message}`));
      await closeRedis(this.conn);
    })();
    return this.closing;
  }

  private async handlersReturned(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  /**
   * Every handler has returned; what is left is BullMQ's bookkeeping (completing or handing back
   * their jobs), which needs Redis. Redis away, the Worker is closed by force: its jobs stay active in
   * Redis until the stalled check of another consumer hands them on.
   */
  private async closeWorker(worker: Worker<Job, void, string>): Promise<void> {
    const force = this.conn.status !== 'ready';
    let timer: NodeJS.Timeout | undefined;
    const closed = worker.close(force).then(
      () => true,
      (err: Error) => (this.log(`closing the worker: ${err.message}`), true),
    );
    const inTime = await Promise.race([closed, new Promise<false>((r) => (timer = setTimeout(() => r(false), this.options.commandTimeoutMs ?? 5000)))]);
    clearTimeout(timer);
    if (inTime) return;
    this.log('the worker did not close in time (redis away?); dropping its connections');
    await dropWorker(worker);
  }
}

/** The parts of a BullMQ Worker that `dropWorker` stops by hand (BullMQ's own, not in its typings). */
export interface WorkerInternals {
  connection?: { disconnect(wait?: boolean): Promise<void> };
  blockingConnection?: { disconnect(wait?: boolean): Promise<void> };
  lockManager?: { close(): Promise<void> };
  stalledCheckStopper?: () => void;
}

/**
 * Stops what a BullMQ Worker whose close() did not end keeps running: its two connections, its lock
 * extender and its stalled check. Worker.close() and Worker.disconnect() wait for the blocking
 * connection's 'end', and ioredis 5 never emits it for a connection disconnected while it waits to
 * reconnect (Redis down or just restarted); close() stops the lock extender only after that wait,
 * and the extender's timer, which sets itself again every lockDuration / 4, then kept the process
 * alive for good. So the connections are dropped without waiting for their 'end'.
 */
export async function dropWorker(worker: WorkerInternals | Worker): Promise<void> {
  const internals = worker as unknown as WorkerInternals;
  await Promise.allSettled([internals.connection?.disconnect(false), internals.blockingConnection?.disconnect(false), internals.lockManager?.close()]);
  internals.stalledCheckStopper?.();
}

/** BullMQ refuses custom ids that are integers or hold a ':'; such ids are encoded (others are kept as they are, readable in Redis). */
function bullId(id: string): string {
  return /^\d+$/.test(id) || id.includes(':') || id.startsWith('~') ? `~${Buffer.from(id).toString('base64url')}` : id;
}
