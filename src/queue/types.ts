/**
 * The contracts between the API processes and the workers: a job queue and an event bus for progress
 * and completion (the per-user in-flight limit is counted in the database: core/jobs.ts). In-process implementations (in-process.ts) and
 * Redis ones (bullmq.ts, redis-events.ts) live beside these; backend.ts picks one by configuration.
 */

/** A unit of work. Jobs carry only ids: the database holds the settings. */
export type Job = { id: string; type: 'generate'; generationId: string } | { id: string; type: 'upscale'; upscaleId: string };

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

/**
 * The reason a handler's signal carries when it aborts (`signal.reason`): `cancel` when cancel() was
 * called for the job (from any process), `shutdown` when close() ran out of grace.
 */
export class JobAbortedError extends Error {
  constructor(readonly why: 'cancel' | 'shutdown') {
    super(why === 'cancel' ? 'cancelled' : 'shutting down');
    this.name = 'JobAbortedError';
  }
}

/** Why a handler's signal aborted, when the queue aborted it. */
export function abortCause(signal: AbortSignal): 'cancel' | 'shutdown' | undefined {
  return signal.aborted && signal.reason instanceof JobAbortedError ? signal.reason.why : undefined;
}

export interface JobQueue {
  /** Enqueues; idempotent by job.id (adding an id that is waiting or running is a no-op) — the database may re-add a job it thinks lost. */
  add(job: Job): Promise<void>;
  /**
   * Starts consuming with `concurrency` jobs at a time. One consumer per queue object. The handler's
   * AbortSignal fires on cancel() from ANY process, and on close after the grace period. Handlers
   * record their own failures and resolve; an error escaping one is logged and the job is not retried.
   */
  process(handler: JobHandler, options?: { concurrency?: number }): void;
  /**
   * Removes a waiting job, or aborts a running one wherever it runs. Resolves true when the job was
   * found waiting or running (for a job running in another process: once the abort was broadcast),
   * false when it is unknown (already done).
   */
  cancel(jobId: string): Promise<boolean>;
  /** Jobs waiting and running, across all processes. */
  counts(): Promise<{ waiting: number; running: number }>;
  /**
   * Stops taking jobs; running handlers get `graceMs` (default 0) to finish, then their signals abort
   * (reason: JobAbortedError 'shutdown'); resolves when every handler has returned. Producer-only
   * queues close their connections. Idempotent.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export type JobStatusName = 'queued' | 'running' | 'succeeded' | 'failed';

/** What a generation or upscale reports while it moves (published on `job:<generation or upscale id>`). */
export type JobEvent =
  | { type: 'status'; id: string; kind: 'generate' | 'upscale'; status: JobStatusName; error?: string; /** Set when a failure was caused by the request (bad input). */ field?: string; at: string }
  | { type: 'progress'; id: string; kind: 'generate' | 'upscale'; step: number; total: number; /** Every DARKROOM_PREVIEW_EVERY steps: the first image so far, a small JPEG data URL. */ preview?: string; at: string };

/**
 * Ends a subscription (idempotent). `ready` resolves once the subscription is live (Redis: the
 * SUBSCRIBE was acknowledged): events published after that reach the listener. Await it before
 * starting work whose events must not be missed; in-process it is resolved already.
 */
export type Unsubscribe = (() => void) & { ready: Promise<void> };

export interface EventBus {
  /** Fire and forget: delivered to every subscriber of `channel` in every process, in publish order. */
  publish(channel: string, event: JobEvent): void;
  subscribe(channel: string, listener: (event: JobEvent) => void): Unsubscribe;
  close(): Promise<void>;
}

export function jobChannel(id: string): string {
  return `job:${id}`;
}

/**
 * Channel of a client-chosen stream id (Stablecog's stream_id), for SSE. It is scoped to the owner:
 * stream ids are chosen by clients, so another user naming the same id must hear nothing.
 */
export function streamChannel(userId: string, streamId: string): string {
  return `stream:${userId}:${streamId}`;
}
