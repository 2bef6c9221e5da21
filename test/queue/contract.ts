/**
 * The queue contract suites: the same assertions on every JobQueue and EventBus implementation
 * (in-process.test.ts runs them on the in-process ones, bullmq.test.ts on BullMQ and Redis pub/sub).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobAbortedError, abortCause, type EventBus, type Job, type JobEvent, type JobQueue } from '../../src/queue/types.ts';

export interface QueueHarness {
  /** A queue object on a fresh, empty queue. */
  make(): JobQueue;
  /**
   * Another object on the same queue, standing for another process (BullMQ: a second BullJobQueue
   * of the same name). In-process there is only one process: the same object.
   */
  peer(queue: JobQueue): JobQueue;
  /** Closes what make() and peer() opened that the test did not close. */
  cleanup(): Promise<void>;
}

export const job = (id: string): Job => ({ id, type: 'generate', generationId: id });

/** Resolves once `check` holds (polled), or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the signal aborts. */
export const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/** A test of the contract that gets a fresh harness and cleans it up whatever happens. */
function harnessed<H extends { cleanup(): Promise<void> }>(label: string, harness: () => H) {
  return (name: string, body: (h: H) => Promise<void>) =>
    test(`${label}: ${name}`, { timeout: 30_000 }, async () => {
      const h = harness();
      try {
        await body(h);
      } finally {
        await h.cleanup();
      }
    });
}

export function queueContract(label: string, harness: () => QueueHarness): void {
  const withHarness = harnessed(label, harness);

  withHarness('jobs run once each, in order, at most `concurrency` at a time', async (h) => {
    const q = h.make();
    const started: string[] = [];
    let running = 0;
    let max = 0;
    const all = deferred();
    q.process(
      async (j) => {
        started.push(j.id);
        running++;
        max = Math.max(max, running);
        await sleep(60);
        running--;
        if (started.length === 5) all.resolve();
      },
      { concurrency: 2 },
    );
    for (const id of ['a', 'b', 'c', 'd', 'e']) await q.add(job(id));
    await all.promise;
    await until(async () => (await q.counts()).running === 0, 5000, 'the last job to finish');
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(max, 2);
    assert.deepEqual(await q.counts(), { waiting: 0, running: 0 });
    await q.close();
  });

  withHarness('add is idempotent by id while the job waits or runs', async (h) => {
    const q = h.make();
    await q.add(job('x'));
    await q.add(job('x'));
    await h.peer(q).add(job('x')); // another process re-adding it
    assert.deepEqual(await q.counts(), { waiting: 1, running: 0 });
    const runs: string[] = [];
    const release = deferred();
    const startedX = deferred();
    q.process(async (j) => {
      runs.push(j.id);
      if (j.id === 'x') {
        startedX.resolve();
        await release.promise;
      }
    });
    await startedX.promise;
    await q.add(job('x')); // while it runs
    assert.deepEqual(await q.counts(), { waiting: 0, running: 1 });
    release.resolve();
    await q.add(job('y'));
    await until(() => runs.includes('y'), 5000, 'job y');
    await sleep(100);
    assert.deepEqual(runs, ['x', 'y']);
    await q.close();
  });

  withHarness('cancel removes a waiting job; unknown or finished ids answer false', async (h) => {
    const q = h.make();
    await q.add(job('keep'));
    await q.add(job('drop'));
    assert.equal(await h.peer(q).cancel('drop'), true);
    assert.deepEqual(await q.counts(), { waiting: 1, running: 0 });
    assert.equal(await q.cancel('nope'), false);
    const runs: string[] = [];
    q.process(async (j) => void runs.push(j.id));
    await until(() => runs.length === 1, 5000, 'job keep');
    await until(async () => (await q.counts()).running === 0, 5000, 'job keep to finish');
    await sleep(100);
    assert.deepEqual(runs, ['keep']);
    assert.equal(await q.cancel('keep'), false, 'a finished job cannot be cancelled');
    await q.close();
  });

  withHarness('cancel aborts a running job from another queue object (another process)', async (h) => {
    const consumer = h.make();
    const producer = h.peer(consumer);
    const started = deferred();
    let reason: unknown;
    let cause: string | undefined;
    const finished = deferred();
    consumer.process(async (_j, signal) => {
      started.resolve();
      await aborted(signal);
      reason = signal.reason;
      cause = abortCause(signal);
      finished.resolve();
    });
    await producer.add(job('r'));
    await started.promise;
    assert.deepEqual(await producer.counts(), { waiting: 0, running: 1 });
    assert.equal(await producer.cancel('r'), true);
    await finished.promise;
    assert.ok(reason instanceof JobAbortedError && reason.why === 'cancel');
    assert.equal(cause, 'cancel');
    await until(async () => (await producer.counts()).running === 0, 5000, 'the cancelled job to end');
    assert.equal(await producer.cancel('r'), false);
    await consumer.close();
    await producer.close();
  });

  withHarness('counts waiting and running jobs, seen from every process', async (h) => {
    const q = h.make();
    const other = h.peer(q);
    const release = deferred();
    const started = deferred();
    q.process(async () => {
      started.resolve();
      await release.promise;
    });
    for (const id of ['c1', 'c2', 'c3']) await other.add(job(id));
    await started.promise;
    assert.deepEqual(await q.counts(), { waiting: 2, running: 1 });
    assert.deepEqual(await other.counts(), { waiting: 2, running: 1 });
    release.resolve();
    await until(async () => (await other.counts()).waiting + (await other.counts()).running === 0, 5000, 'the queue to drain');
    await q.close();
    await other.close();
  });

  withHarness('close gives running handlers the grace period, then aborts the rest; close is idempotent', async (h) => {
    const q = h.make();
    const starts: string[] = [];
    const outcome = new Map<string, string>();
    q.process(
      async (j, signal) => {
        starts.push(j.id);
        if (j.id === 'quick') {
          await sleep(150);
          outcome.set(j.id, signal.aborted ? 'aborted' : 'finished');
          return;
        }
        await aborted(signal);
        outcome.set(j.id, `aborted: ${abortCause(signal)}`);
      },
      { concurrency: 2 },
    );
    await q.add(job('quick'));
    await q.add(job('slow'));
    await until(() => starts.length === 2, 5000, 'both jobs to start');
    const t0 = Date.now();
    await Promise.all([q.close({ graceMs: 600 }), q.close({ graceMs: 600 })]);
    const took = Date.now() - t0;
    assert.equal(outcome.get('quick'), 'finished');
    assert.equal(outcome.get('slow'), 'aborted: shutdown');
    assert.ok(took >= 550, `close waited the grace period (${took} ms)`);
    await assert.rejects(q.add(job('late')), /closed/);
  });

  withHarness('close without grace aborts running handlers at once and waits for them to return', async (h) => {
    const q = h.make();
    const started = deferred();
    let returned = false;
    q.process(async (_j, signal) => {
      started.resolve();
      await aborted(signal);
      await sleep(50); // cleanup after the abort: close waits for it
      returned = true;
    });
    await q.add(job('z'));
    await started.promise;
    const t0 = Date.now();
    await q.close();
    assert.equal(returned, true);
    assert.ok(Date.now() - t0 < 2000);
  });

  withHarness('an error escaping a handler is not retried, and the queue goes on', async (h) => {
    const q = h.make();
    const runs: string[] = [];
    q.process(async (j) => {
      runs.push(j.id);
      if (j.id === 'bad') throw new Error('escaped on purpose');
    });
    await q.add(job('bad'));
    await q.add(job('good'));
    await until(() => runs.includes('good'), 5000, 'job good');
    await sleep(200);
    assert.deepEqual(runs, ['bad', 'good']);
    await q.close();
  });
}

export interface BusHarness {
  make(): EventBus;
  /** Another bus object (another process); in-process: the same one. */
  peer(bus: EventBus): EventBus;
  cleanup(): Promise<void>;
}

const progress = (id: string, step: number): JobEvent => ({ type: 'progress', id, kind: 'generate', step, total: 100, at: new Date(0).toISOString() });

export function eventBusContract(label: string, harness: () => BusHarness): void {
  const withHarness = harnessed(label, harness);

  withHarness('events arrive in publish order, across processes', async (h) => {
    const bus = h.make();
    const other = h.peer(bus);
    const got: number[] = [];
    const sub = other.subscribe('job:o', (e) => got.push(e.type === 'progress' ? e.step : -1));
    await sub.ready;
    for (let i = 0; i < 100; i++) bus.publish('job:o', progress('o', i));
    await until(() => got.length === 100, 5000, '100 events');
    assert.deepEqual(got, [...Array(100).keys()]);
    sub();
  });

  withHarness('every subscriber of a channel hears it; other channels do not', async (h) => {
    const bus = h.make();
    const other = h.peer(bus);
    const a: JobEvent[] = [];
    const b: JobEvent[] = [];
    const c: JobEvent[] = [];
    const subs = [bus.subscribe('job:1', (e) => a.push(e)), other.subscribe('job:1', (e) => b.push(e)), other.subscribe('job:2', (e) => c.push(e))];
    await Promise.all(subs.map((s) => s.ready));
    const event: JobEvent = { type: 'status', id: '1', kind: 'upscale', status: 'failed', error: 'bad input', field: 'image', at: '2024-01-01T00:00:00.000Z' };
    bus.publish('job:1', event);
    await until(() => a.length === 1 && b.length === 1, 5000, 'both subscribers');
    assert.deepEqual(a, [event]);
    assert.deepEqual(b, [event]);
    await sleep(100);
    assert.equal(c.length, 0);
    subs.forEach((s) => s());
  });

  withHarness('an unsubscribed listener hears nothing more; the others still do', async (h) => {
    const bus = h.make();
    const other = h.peer(bus);
    const a: number[] = [];
    const b: number[] = [];
    const subA = other.subscribe('job:u', (e) => a.push(e.type === 'progress' ? e.step : -1));
    const subB = other.subscribe('job:u', (e) => b.push(e.type === 'progress' ? e.step : -1));
    await Promise.all([subA.ready, subB.ready]);
    bus.publish('job:u', progress('u', 1));
    await until(() => a.length === 1 && b.length === 1, 5000, 'the first event');
    subA();
    subA(); // idempotent
    bus.publish('job:u', progress('u', 2));
    await until(() => b.length === 2, 5000, 'the second event');
    subB();
    const again: number[] = [];
    const subC = other.subscribe('job:u', (e) => again.push(e.type === 'progress' ? e.step : -1));
    await subC.ready;
    bus.publish('job:u', progress('u', 3));
    await until(() => again.length === 1, 5000, 'the third event, to a new subscriber');
    await sleep(100);
    assert.deepEqual(a, [1]);
    assert.deepEqual(b, [1, 2]);
    assert.deepEqual(again, [3]);
    subC();
  });
}
