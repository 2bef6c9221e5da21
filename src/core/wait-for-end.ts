/**
 * Waiting for a job's end on the API side: its final status event, from whichever process ran it,
 * or its row, read now and then in case an event was missed (a Redis reconnect, a replica restart).
 */
import type { EventBus } from '../queue/types.ts';

export type JobEnd = { status: 'succeeded' | 'failed'; field?: string };

const POLL_MS = 2000;

export interface EndWaiter {
  /** Settles once the subscription is live everywhere (Redis has confirmed it): enqueue after this. */
  ready: Promise<void>;
  /** Resolves with the end, or 'timeout' after `ms`. Unsubscribes either way. */
  wait(ms: number): Promise<JobEnd | 'timeout'>;
  cancel(): void;
}

/** Subscribes at once (call it before the job can possibly finish). */
export function waitForEnd(events: EventBus, channel: string, readStatus: () => Promise<string | undefined>): EndWaiter {
  let settle: (end: JobEnd) => void = () => undefined;
  const ended = new Promise<JobEnd>((resolve) => (settle = resolve));
  const unsubscribe = events.subscribe(channel, (e) => {
    if (e.type === 'status' && (e.status === 'succeeded' || e.status === 'failed')) settle({ status: e.status, field: e.field });
  });
  return {
    ready: unsubscribe.ready,
    cancel: unsubscribe,
    wait: async (ms) => {
      const timers: NodeJS.Timeout[] = [];
      const timeout = new Promise<'timeout'>((resolve) => timers.push(setTimeout(() => resolve('timeout'), ms)));
      const poll = setInterval(() => {
        readStatus().then(
          (status) => (status === 'succeeded' || status === 'failed' ? settle({ status }) : undefined),
          () => undefined,
        );
      }, POLL_MS);
      try {
        return await Promise.race([ended, timeout]);
      } finally {
        for (const t of timers) clearTimeout(t);
        clearInterval(poll);
        unsubscribe();
      }
    },
  };
}
