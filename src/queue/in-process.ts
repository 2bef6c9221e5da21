/** In-process implementations of the queue contracts (embedded mode: one process, no Redis). */
import { EventEmitter } from 'node:events';
import { JobAbortedError, type EventBus, type Job, type JobEvent, type JobHandler, type JobQueue, type Unsubscribe } from './types.ts';

export class InProcessJobQueue implements JobQueue {
  private readonly waiting: Job[] = [];
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private handler?: JobHandler;
  private concurrency = 1;
  private closing?: Promise<void>;

  constructor(private readonly log: (message: string) => void = () => undefined) {}

  async add(job: Job): Promise<void> {
    if (this.closing) throw new Error('the job queue is closed');
    if (this.running.has(job.id) || this.waiting.some((j) => j.id === job.id)) return;
    this.waiting.push(job);
    this.pump();
  }

  process(handler: JobHandler, options: { concurrency?: number } = {}): void {
    if (this.handler) throw new Error('this queue already has a consumer');
    this.handler = handler;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.pump();
  }

  async cancel(jobId: string): Promise<boolean> {
    const i = this.waiting.findIndex((j) => j.id === jobId);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      return true;
    }
    const r = this.running.get(jobId);
    if (!r) return false;
    r.controller.abort(new JobAbortedError('cancel'));
    return true;
  }

  async counts(): Promise<{ waiting: number; running: number }> {
    return { waiting: this.waiting.length, running: this.running.size };
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler || this.closing) return;
    while (this.running.size < this.concurrency && this.waiting.length) {
      const job = this.waiting.shift()!;
      const controller = new AbortController();
      const done = (async () => {
        try {
          await handler(job, controller.signal);
        } catch (err) {
          // Handlers record their own failures; anything escaping is a bug worth seeing.
          this.log(`job ${job.id} (${job.type}) failed outside its handler: ${err instanceof Error ? err.stack : String(err)}`);
        } finally {
          this.running.delete(job.id);
          this.pump();
        }
      })();
      this.running.set(job.id, { controller, done });
    }
  }

  /** Waiting jobs are dropped (embedded mode: the database knows them); running ones get `graceMs`. */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.waiting.length = 0;
      const running = [...this.running.values()];
      const all = Promise.allSettled(running.map((r) => r.done));
      const graceMs = options.graceMs ?? 0;
      if (graceMs > 0 && running.length) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
      }
      for (const r of running) r.controller.abort(new JobAbortedError('shutdown'));
      await all;
    })();
    return this.closing;
  }
}

export class InProcessEventBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(channel: string, event: JobEvent): void {
    this.emitter.emit(channel, event);
  }

  subscribe(channel: string, listener: (event: JobEvent) => void): Unsubscribe {
    // Each subscription gets its own wrapper, so one listener subscribed twice is two subscriptions.
    const wrapper = (event: JobEvent) => listener(event);
    this.emitter.on(channel, wrapper);
    return Object.assign(() => void this.emitter.off(channel, wrapper), { ready: Promise.resolve() });
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
