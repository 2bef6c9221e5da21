import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessEventBus, InProcessGate, InProcessJobQueue } from '../../src/queue/in-process.ts';
import { QueueLimitError } from '../../src/core/errors.ts';
import type { Job, JobQueue } from '../../src/queue/types.ts';
import { eventBusContract, queueContract } from './contract.ts';

queueContract('in-process', () => {
  const made: JobQueue[] = [];
  return {
    make: () => {
      const q = new InProcessJobQueue();
      made.push(q);
      return q;
    },
    peer: (q) => q, // one process: the same object
    cleanup: async () => void (await Promise.all(made.map((q) => q.close()))),
  };
});

eventBusContract('in-process', () => {
  const bus = new InProcessEventBus();
  return { make: () => bus, peer: (b) => b, cleanup: () => bus.close() };
});

const job = (id: string): Job => ({ id, type: 'generate', generationId: id });

test('jobs run in order, at most `concurrency` at a time', async () => {
  const q = new InProcessJobQueue();
  const started: string[] = [];
  let running = 0;
  let max = 0;
  const done = new Promise<void>((resolve) => {
    q.process(
      async (j) => {
        started.push(j.id);
        running++;
        max = Math.max(max, running);
        await new Promise((r) => setTimeout(r, 10));
        running--;
        if (started.length === 5 && running === 0) resolve();
      },
      { concurrency: 2 },
    );
  });
  for (const id of ['a', 'b', 'c', 'd', 'e']) await q.add(job(id));
  await done;
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
  assert.equal(max, 2);
  await q.close();
});

test('cancel removes a waiting job and aborts a running one; close is idempotent', async () => {
  const q = new InProcessJobQueue();
  const seen: string[] = [];
  let aborted = false;
  q.process(async (j, signal) => {
    seen.push(j.id);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve()), { once: true }));
  });
  await q.add(job('run'));
  await q.add(job('wait'));
  assert.deepEqual(await q.counts(), { waiting: 1, running: 1 });
  assert.equal(await q.cancel('wait'), true);
  assert.equal(await q.cancel('run'), true);
  await new Promise((r) => setTimeout(r, 5));
  assert.ok(aborted);
  assert.deepEqual(seen, ['run']);
  assert.equal(await q.cancel('nope'), false);
  await Promise.all([q.close(), q.close()]);
  await assert.rejects(q.add(job('late')), /closed/);
});

test('the gate hands a freed slot to the next waiter, and refuses past the waiting limit', async () => {
  const gate = new InProcessGate(1, 2);
  const r1 = await gate.acquire('u');
  const w1 = gate.acquire('u');
  const w2 = gate.acquire('u');
  await assert.rejects(gate.acquire('u'), QueueLimitError);
  assert.equal(gate.waiting('u'), 2);
  assert.equal(await gate.acquire('other').then((r) => (r(), 'other user is not blocked')), 'other user is not blocked');
  r1();
  r1(); // a second release of the same slot does nothing
  const r2 = await w1;
  assert.equal(gate.inFlight('u'), 1);
  r2();
  (await w2)();
  assert.equal(gate.inFlight('u'), 0);
});

test('a waiter whose request is aborted leaves the line', async () => {
  const gate = new InProcessGate(1, 5);
  const r1 = await gate.acquire('u');
  const ac = new AbortController();
  const w = gate.acquire('u', ac.signal);
  ac.abort(new Error('client went away'));
  await assert.rejects(w, /client went away/);
  assert.equal(gate.waiting('u'), 0);
  r1();
  assert.equal(gate.inFlight('u'), 0);
});
