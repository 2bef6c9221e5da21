/**
 * The one job lifecycle, for every job kind (generations and upscales), held in the database so it
 * is the same whichever process looks at it:
 *
 *   queued ──claim──▶ running ──finish──▶ succeeded | failed
 *     ▲                  │  (lease renewed by its worker)
 *     └──── lease ran out, attempts left (its worker died)
 *   queued | running ──fail (deadline, cancel, lease ran out with no attempts left)──▶ failed + refund
 *
 * Every transition is one conditional UPDATE (from the statuses it may leave), so a late result, a
 * second reaper or a worker that lost its lease changes nothing: never lost, never charged twice.
 */
import type { Database, Executor } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import * as ledger from '../db/ledger.ts';
import type { JobStatus } from '../db/schema.ts';
import { jobChannel, streamChannel, type EventBus, type Job, type JobEvent } from '../queue/types.ts';
import type { Metrics } from '../observability/metrics.ts';
import { QueueLimitError } from './errors.ts';

export type JobKind = Job['type'];

/** The columns every job table has; what the lifecycle reads and writes. */
export interface JobRow {
  id: string;
  user_id: string;
  api_key_id: string | null;
  status: JobStatus;
  cost: number;
  attempts: number;
  lease_until: string | null;
  deadline_at: string | null;
  request_id: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
}

const TABLE = { generate: 'generations', upscale: 'upscales' } as const;
const LEDGER_REF = { generate: 'generation_id', upscale: 'upscale_id' } as const;
const KINDS = Object.keys(TABLE) as JobKind[];

// Both tables share the lifecycle columns; Kysely is told 'generations' so one query serves both.
function table(kind: JobKind): 'generations' {
  return TABLE[kind] as 'generations';
}

/** The error of a job failed for running out of time (Stablecog answers it as TIMEOUT). */
export function timeoutMessage(timeoutMs: number): string {
  return `TIMEOUT: no result within ${timeoutMs / 1000} s`;
}

export function isTimeout(error: string | null): boolean {
  return error?.startsWith('TIMEOUT:') === true;
}

export function jobOf(kind: JobKind, id: string): Job {
  return kind === 'generate' ? { id, type: 'generate', generationId: id } : { id, type: 'upscale', upscaleId: id };
}

function at(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

export interface LifecycleOptions {
  /** How long a claim lasts without renewal; a worker renews it at a third of this. */
  leaseMs: number;
  /** Claims a job gets before a lost one is failed (2: retried once on another worker). */
  maxAttempts: number;
  /** Jobs of one user running at once (across every worker). */
  maxInFlight: number;
  /** Jobs of one user that may wait beyond those; one more is refused before any charge. */
  maxQueued: number;
}

export type ClaimResult<R> = { claimed: R } | { busy: true } | { gone: true };

export class JobLifecycle {
  constructor(
    private readonly deps: { db: Database; events: EventBus; metrics?: Metrics },
    readonly options: LifecycleOptions,
  ) {}

  /** Feeds the job's end to the metrics: its seconds from claim (or acceptance) to end, and what was given back. */
  private ended(kind: JobKind, row: JobRow, status: 'succeeded' | 'failed', refunded: number): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    metrics.jobFinished(kind, status, (Date.now() - Date.parse(row.started_at ?? row.created_at)) / 1000);
    if (refunded > 0) metrics.credits('refunded', refunded);
  }

  /** Credits taken for a job just recorded (counted once its transaction committed). */
  debited(credits: number): void {
    this.deps.metrics?.credits('debited', credits);
  }

  /** Credits a finished job's own writes gave back (its missing images), once committed. */
  refunded(credits: number): void {
    if (credits > 0) this.deps.metrics?.credits('refunded', credits);
  }

  /**
   * Last in the transaction that records a new job and debits for it (the debit locks the user's row
   * on Postgres, so concurrent admissions of one user queue behind it and count each other): refuses
   * the job, rolling everything back, when with it the user would have more queued and running than allowed.
   */
  async admit(tx: Executor, userId: string): Promise<void> {
    const open = await this.countOpen(tx, userId, ['queued', 'running']);
    if (open > this.options.maxInFlight + this.options.maxQueued) throw new QueueLimitError(this.options.maxQueued);
  }

  private async countOpen(ex: Executor, userId: string, statuses: JobStatus[]): Promise<number> {
    let n = 0;
    for (const kind of KINDS) {
      const row = await ex
        .selectFrom(table(kind))
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', userId)
        .where('status', 'in', statuses)
        .executeTakeFirstOrThrow();
      n += Number(row.n);
    }
    return n;
  }

  /** The deadline of a job made now that may take `timeoutMs`. */
  deadline(timeoutMs: number): string {
    return at(Date.now() + timeoutMs);
  }

  /**
   * queued → running for this worker (or running → running when its lease ran out: the worker that
   * had it died), counting the attempt. Busy when the user already has maxInFlight running: the
   * caller puts the job back for later.
   */
  async claim(kind: JobKind, id: string): Promise<ClaimResult<JobRow>> {
    const now = timestamp();
    const row = await this.deps.db.transaction(async (tx) => {
      const job = (await tx.selectFrom(table(kind)).selectAll().where('id', '=', id).executeTakeFirst()) as JobRow | undefined;
      if (!job) return 'gone' as const;
      const open = job.status === 'queued' || (job.status === 'running' && job.lease_until !== null && job.lease_until < now);
      if (!open || job.attempts >= this.options.maxAttempts) return 'gone' as const;
      if (job.status === 'queued' && (await this.countOpen(tx, job.user_id, ['running'])) >= this.options.maxInFlight) return 'busy' as const;
      const r = await tx
        .updateTable(table(kind))
        .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), lease_until: at(Date.now() + this.options.leaseMs), started_at: eb.fn.coalesce('started_at', eb.val(now)) }))
        .where('id', '=', id)
        .where('status', '=', job.status)
        .where('attempts', '=', job.attempts)
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) return 'gone' as const;
      return { ...job, status: 'running' as const, attempts: job.attempts + 1 };
    });
    if (row === 'gone') return { gone: true };
    if (row === 'busy') return { busy: true };
    return { claimed: row };
  }

  /** Extends a running job's lease; false when it is no longer running (failed meanwhile: stop). */
  async renew(kind: JobKind, id: string): Promise<boolean> {
    const r = await this.deps.db.kysely
      .updateTable(table(kind))
      .set({ lease_until: at(Date.now() + this.options.leaseMs) })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /**
   * running → `status`, with `within` writing the kind's own rows in the same transaction (outputs,
   * partial refunds). Undefined when the job was no longer running (its result must be discarded).
   */
  async finish<T>(
    kind: JobKind,
    id: string,
    end: { status: 'succeeded' | 'failed'; error?: string | null; patch?: Record<string, unknown> },
    within: (tx: Executor, row: JobRow) => Promise<T>,
  ): Promise<{ row: JobRow; result: T } | undefined> {
    const now = timestamp();
    const ended = await this.deps.db.transaction(async (tx) => {
      const row = (await tx.selectFrom(table(kind)).selectAll().where('id', '=', id).executeTakeFirst()) as JobRow | undefined;
      if (!row) return undefined;
      const moved = await tx
        .updateTable(table(kind))
        .set({ ...(end.patch ?? {}), status: end.status, error: end.error ?? null, completed_at: now, lease_until: null })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (moved.numUpdatedRows === 0n) return undefined;
      return { row: { ...row, status: end.status, error: end.error ?? null }, result: await within(tx, row) };
    });
    if (ended) this.ended(kind, ended.row, end.status, 0);
    return ended;
  }

  /**
   * queued|running → failed, refunding whatever was not refunded yet, in one transaction; `within`
   * adds the kind's own writes. The failed row with the credits this refunded, or undefined when the job had already ended.
   */
  async fail(kind: JobKind, id: string, message: string, within?: (tx: Executor, row: JobRow) => Promise<void>): Promise<(JobRow & { refunded: number }) | undefined> {
    const now = timestamp();
    let refund = 0;
    const failed = await this.deps.db.transaction(async (tx) => {
      const row = (await tx.selectFrom(table(kind)).selectAll().where('id', '=', id).executeTakeFirst()) as JobRow | undefined;
      if (!row) return undefined;
      const moved = await tx
        .updateTable(table(kind))
        .set({ status: 'failed', error: message, completed_at: now, lease_until: null })
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'running'])
        .executeTakeFirst();
      if (moved.numUpdatedRows === 0n) return undefined;
      const ref = { [LEDGER_REF[kind]]: id };
      refund = Number(row.cost) - (await ledger.refundedFor(tx, ref));
      if (refund > 0) await ledger.credit(tx, row.user_id, refund, 'refund', { ...ref, api_key_id: row.api_key_id, note: message.slice(0, 200) });
      await within?.(tx, row);
      return { ...row, status: 'failed' as const, error: message, refunded: refund };
    });
    if (failed) this.ended(kind, failed, 'failed', refund);
    return failed;
  }

  /** running (lease ran out) → queued, so another worker takes it. False when something else moved it first. */
  async requeue(kind: JobKind, id: string): Promise<boolean> {
    const r = await this.deps.db.kysely
      .updateTable(table(kind))
      .set({ status: 'queued', lease_until: null })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('lease_until', '<', timestamp())
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /** running → queued by its own worker, which is stopping: the attempt is given back, another worker takes it. */
  async release(kind: JobKind, id: string): Promise<boolean> {
    const r = await this.deps.db.kysely
      .updateTable(table(kind))
      .set((eb) => ({ status: 'queued', lease_until: null, attempts: eb('attempts', '-', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /** Jobs that need the reaper: past their deadline, running with a lapsed lease, or queued a while. */
  async overdue(queuedBefore: string): Promise<{ kind: JobKind; row: JobRow; why: 'deadline' | 'lease' | 'queued' }[]> {
    const now = timestamp();
    const found: { kind: JobKind; row: JobRow; why: 'deadline' | 'lease' | 'queued' }[] = [];
    for (const kind of KINDS) {
      const rows = (await this.deps.db.kysely
        .selectFrom(table(kind))
        .selectAll()
        .where('status', 'in', ['queued', 'running'])
        .where((eb) =>
          eb.or([
            eb('deadline_at', '<', now),
            eb.and([eb('status', '=', 'running'), eb('lease_until', '<', now)]),
            eb.and([eb('status', '=', 'queued'), eb('created_at', '<', queuedBefore)]),
          ]),
        )
        .orderBy('created_at')
        .limit(500)
        .execute()) as unknown as JobRow[];
      for (const row of rows) {
        const why = row.deadline_at !== null && row.deadline_at < now ? 'deadline' : row.status === 'running' ? 'lease' : 'queued';
        found.push({ kind, row, why });
      }
    }
    return found;
  }

  /** How many jobs of each kind are in each status (for the metrics, read at each scrape). */
  async countByState(): Promise<{ kind: JobKind; state: JobStatus; count: number }[]> {
    const out: { kind: JobKind; state: JobStatus; count: number }[] = [];
    for (const kind of KINDS) {
      const rows = await this.deps.db.kysely
        .selectFrom(table(kind))
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      out.push(...rows.map((r) => ({ kind, state: r.status, count: Number(r.n) })));
    }
    return out;
  }

  /** Every job left queued or running (embedded start: the previous process held their only worker). */
  async unfinished(): Promise<{ kind: JobKind; id: string }[]> {
    const out: { kind: JobKind; id: string }[] = [];
    for (const kind of KINDS) {
      const rows = await this.deps.db.kysely.selectFrom(table(kind)).select('id').where('status', 'in', ['queued', 'running']).execute();
      out.push(...rows.map((r) => ({ kind, id: r.id })));
    }
    return out;
  }

  /** Publishes on the job's channel and on any extra channels (a generation's SSE stream). */
  publish(channels: string[], event: JobEvent): void {
    for (const channel of channels) this.deps.events.publish(channel, event);
  }
}

/** The channels a job's events go to: its own, and its owner's SSE stream when it named one. */
export function channelsOf(id: string, userId: string, streamId?: string): string[] {
  return streamId ? [jobChannel(id), streamChannel(userId, streamId)] : [jobChannel(id)];
}
