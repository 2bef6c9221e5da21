import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessEventBus, InProcessJobQueue } from '../../src/queue/in-process.ts';
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
