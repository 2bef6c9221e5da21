/**
 * The reaper: what the database says about jobs that no live process is looking after, acted on
 * from any process (API or worker; several at once are harmless, every step being conditional).
 * - past its deadline: failed and refunded (TIMEOUT), its worker told to stop;
 * - running with a lapsed lease (its worker died): queued again while attempts are left, else failed and refunded;
 * - queued for a while: offered to the queue again (the queue dedups by id), in case the queue lost it (a Redis restart).
 */
import { timestamp } from '../db/clock.ts';
import type { JobQueue } from '../queue/types.ts';
import { jobOf, timeoutMessage, type JobKind, type JobLifecycle } from './jobs.ts';

export interface ReaperDeps {
  lifecycle: JobLifecycle;
  queue: JobQueue;
  /** The kind's own fail (publishes the end, refunds, writes its webhook). */
  fail: (kind: JobKind, id: string, message: string) => Promise<boolean>;
  log?: (message: string) => void;
}

export interface ReaperOptions {
  intervalMs: number;
  /** A queued job older than this is offered to the queue again. */
  requeueAfterMs: number;
  /** The jobs' time limit (for the message of one failed at its deadline). */
  timeoutMs: number;
}

export class Reaper {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;

  constructor(
    private readonly deps: ReaperDeps,
    private readonly options: ReaperOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((err: unknown) => this.deps.log?.(`reaper: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => (this.sweeping = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** One pass; returns what it did, by kind of trouble. */
  async sweep(): Promise<{ timedOut: number; retried: number; abandoned: number; reoffered: number }> {
    const { lifecycle, queue, fail } = this.deps;
    const done = { timedOut: 0, retried: 0, abandoned: 0, reoffered: 0 };
    const queuedBefore = new Date(Date.now() - this.options.requeueAfterMs).toISOString().replace('Z', '000Z');
    for (const { kind, row, why } of await lifecycle.overdue(queuedBefore)) {
      if (why === 'deadline') {
        if (await fail(kind, row.id, timeoutMessage(this.options.timeoutMs))) done.timedOut++;
      } else if (why === 'lease') {
        if (row.attempts >= lifecycle.options.maxAttempts) {
          if (await fail(kind, row.id, `the worker running it stopped, ${row.attempts} time(s)`)) done.abandoned++;
        } else if (await lifecycle.requeue(kind, row.id)) {
          this.deps.log?.(`${kind} ${row.id}: its worker stopped (lease ran out at ${row.lease_until}); queued again (${timestamp()})`);
          await queue.add(jobOf(kind, row.id));
          done.retried++;
        }
      } else {
        await queue.add(jobOf(kind, row.id));
        done.reoffered++;
      }
    }
    return done;
  }
}
