/**
 * The contracts between the API processes and the workers: a job queue, an event bus for progress
 * and completion, and the per-user in-flight gate. In-process implementations live beside these;
 * Redis (BullMQ, pub/sub) implementations come with the scale-out configuration.
 */

/** A unit of work. Jobs carry only ids: the database holds the settings. */
export type Job = { id: string; type: 'generate'; generationId: string } | { id: string; type: 'upscale'; upscaleId: string };

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

export interface JobQueue {
  add(job: Job): Promise<void>;
  /** Starts consuming with `concurrency` jobs at a time. One consumer per queue object. */
  process(handler: JobHandler, options?: { concurrency?: number }): void;
  /** Removes a waiting job or aborts a running one; false when the job is unknown (already done). */
  cancel(jobId: string): Promise<boolean>;
  /** Jobs waiting plus jobs running. */
  size(): Promise<number>;
  /** Stops taking jobs, aborts running ones and waits for their handlers to return. Idempotent. */
  close(): Promise<void>;
}

export type JobStatusName = 'queued' | 'running' | 'succeeded' | 'failed';

/** What a generation or upscale reports while it moves (published on `job:<generation or upscale id>`). */
export type JobEvent =
  | { type: 'status'; id: string; kind: 'generate' | 'upscale'; status: JobStatusName; error?: string; /** Set when a failure was caused by the request (bad input). */ field?: string; at: string }
  | { type: 'progress'; id: string; kind: 'generate' | 'upscale'; step: number; total: number; at: string };

export interface EventBus {
  publish(channel: string, event: JobEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(channel: string, listener: (event: JobEvent) => void): () => void;
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

/**
 * At most N generations in flight per user; further requests wait (up to a bounded number of
 * waiters, then QueueLimitError).
 */
export interface InFlightGate {
  /** Resolves with a release function once the user may start one more. */
  acquire(userId: string, signal?: AbortSignal): Promise<() => void>;
  inFlight(userId: string): number;
  waiting(userId: string): number;
}
