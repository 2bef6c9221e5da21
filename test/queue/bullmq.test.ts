/**
 * The queue contract on BullMQ and the event-bus contract on Redis pub/sub, against a real
 * redis-server; then what only a shared queue has: a consumer killed mid-job (its job goes to another
 * consumer; killed twice, the job is given up), Redis restarting under a consumer, shutdown handing
 * running jobs back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
import { BullJobQueue, dropWorker, type BullJobQueueOptions } from '../../src/queue/bullmq.ts';
import { RedisEventBus } from '../../src/queue/redis-events.ts';
import { RedisServer } from '../helpers/redis.ts';
import { aborted, deferred, eventBusContract, job, queueContract, sleep, until } from './contract.ts';
import type { EventBus, Job, JobEvent, JobQueue } from '../../src/queue/types.ts';

let redis: RedisServer;
let names = 0;
const freshName = () => `t${process.pid}-${++names}`;
const logs: string[] = [];
const log = (m: string) => void logs.push(m);

before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  // A test that timed out may have left its child consumers running: they must not outlive the file.
  await Promise.all([...children].map((c) => c.kill()));
  await redis.stop();
});

function bull(name: string, extra: Partial<BullJobQueueOptions> = {}): BullJobQueue {
  return new BullJobQueue({ url: redis.url, name, lockDurationMs: 2000, stalledIntervalMs: 1000, log, ...extra });
}

/** make(): a new queue name; peer(q): another object on q's name; cleanup closes them all. */
function bullHarness() {
  const made: JobQueue[] = [];
  const keep = <T extends JobQueue>(q: T) => (made.push(q), q);
  return {
    make: () => keep(bull(freshName())),
    peer: (q: JobQueue) => keep(bull((q as BullJobQueue).name)),
    cleanup: async () => void (await Promise.all(made.map((q) => q.close()))),
  };
}

queueContract('bullmq', bullHarness);

eventBusContract('redis', () => {
  const made: EventBus[] = [];
  const prefix = `${freshName()}:`;
  const make = () => {
    const bus = new RedisEventBus({ url: redis.url, prefix, log });
    made.push(bus);
    return bus;
  };
  return { make, peer: () => make(), cleanup: async () => void (await Promise.all(made.map((b) => b.close()))) };
});

test('redis bus: a channel is subscribed in Redis while it has local listeners, and JSON travels on prefixed channels', { timeout: 120_000 }, async () => {
  const prefix = `${freshName()}:`;
  const bus = new RedisEventBus({ url: redis.url, prefix, log });
  const raw = new Redis(redis.url);
  try {
    const numsub = async () => Number(((await raw.pubsub('NUMSUB', `${prefix}job:n`)) as [string, number])[1]);
    const a = bus.subscribe('job:n', () => undefined);
    const got: unknown[] = [];
    const b = bus.subscribe('job:n', (e) => got.push(e));
    await Promise.all([a.ready, b.ready]);
    assert.equal(await numsub(), 1, 'one SUBSCRIBE per channel, however many local listeners');
    await raw.publish(`${prefix}job:n`, JSON.stringify({ type: 'progress', id: 'n', kind: 'generate', step: 7, total: 9, at: 'x' }));
    await raw.publish(`${prefix}job:n`, 'not json'); // ignored, logged
    await until(() => got.length === 1, 5000, 'the raw event');
    assert.deepEqual(got, [{ type: 'progress', id: 'n', kind: 'generate', step: 7, total: 9, at: 'x' }]);
    a();
    await sleep(50);
    assert.equal(await numsub(), 1, 'still one listener');
    b();
    await until(async () => (await numsub()) === 0, 5000, 'the UNSUBSCRIBE');
    await bus.ping();
  } finally {
    raw.disconnect();
    await bus.close();
  }
});

test('redis bus: a channel subscribed during the connection handshake stays subscribed (the ready check is not refused, nothing reconnects)', { timeout: 60_000 }, async () => {
  const prefix = `${freshName()}:`;
  const peer = new RedisEventBus({ url: redis.url, prefix, log });
  await peer.ping();
  const seen: string[] = [];
  const bus = new RedisEventBus({ url: redis.url, prefix, log: (m) => void seen.push(m) });
  try {
    // The window is the subscriber connection's 'connect' event: TCP is up, its ready check not yet done.
    // Only the private connection can be watched for it; the start-up of a test process hit it by chance.
    const conn = (bus as unknown as { sub: Redis }).sub;
    const heard: JobEvent[] = [];
    const sub = await new Promise<ReturnType<EventBus['subscribe']>>((resolve) => conn.once('connect', () => resolve(bus.subscribe('job:h', (e) => heard.push(e)))));
    await sub.ready;
    await bus.ping();
    peer.publish('job:h', { type: 'progress', id: 'h', kind: 'generate', step: 1, total: 1, at: 'x' });
    await until(() => heard.length === 1, 5000, 'the event published once the subscription was ready');
    assert.deepEqual(seen, [], 'no refused ready check, no reconnect');
  } finally {
    await Promise.all([bus.close(), peer.close()]);
  }
});

test('bullmq: a finished job added again runs again; ids BullMQ refuses (integers, colons) work', { timeout: 120_000 }, async () => {
  const q = bull(freshName());
  try {
    const runs: string[] = [];
    q.process(async (j) => void runs.push(j.id));
    for (const id of ['42', 'a:b', 'plain']) await q.add(job(id));
    await until(() => runs.length === 3, 5000, 'three jobs');
    await until(async () => (await q.counts()).running === 0, 5000, 'them to finish');
    await q.add(job('plain'));
    await until(() => runs.length === 4, 5000, 'the re-added job');
    assert.deepEqual(runs, ['42', 'a:b', 'plain', 'plain']);
    assert.equal(await q.cancel('a:b'), false);
  } finally {
    await q.close();
  }
});

test('bullmq: a cancel broadcast just before the job starts still aborts it', { timeout: 120_000 }, async () => {
  const name = freshName();
  const consumer = bull(name);
  const producer = bull(name);
  try {
    const causes: string[] = [];
    const release = deferred();
    const firstStarted = deferred();
    consumer.process(async (j, signal) => {
      if (j.id === 'first') {
        firstStarted.resolve();
        await release.promise;
        return;
      }
      causes.push(`${j.id}: ${signal.aborted ? 'aborted at start' : 'ran'}`);
    });
    await producer.add(job('first'));
    await firstStarted.promise;
    await producer.add(job('second'));
    // 'second' waits; a consumer taking it between the state check and the broadcast is what this
    // stands for: publish the broadcast by hand, then let it start.
    const raw = new Redis(redis.url);
    await raw.publish(`darkroom:${name}:cancel`, 'second');
    raw.disconnect();
    await sleep(100);
    release.resolve();
    await until(() => causes.length === 1, 5000, 'job second');
    assert.deepEqual(causes, ['second: aborted at start']);
  } finally {
    await Promise.all([consumer.close(), producer.close()]);
  }
});

test('bullmq: close hands a job aborted by shutdown back to the queue, for another consumer', { timeout: 120_000 }, async () => {
  const name = freshName();
  const first = bull(name);
  const second = bull(name);
  try {
    const started = deferred();
    first.process(async (_j, signal) => {
      started.resolve();
      await aborted(signal);
    });
    await first.add(job('handed-back'));
    await started.promise;
    await first.close({ graceMs: 100 });
    assert.deepEqual(await second.counts(), { waiting: 1, running: 0 });
    const ran = deferred<string>();
    second.process(async (j) => ran.resolve(j.id));
    assert.equal(await ran.promise, 'handed-back');
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});

const children = new Set<ChildConsumer>();

/** A consumer in a child process (fixtures/consumer.ts) that never finishes a job. */
class ChildConsumer {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly exited: Promise<void>;

  constructor(name: string) {
    const script = fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url));
    this.child = spawn(process.execPath, ['--import', 'tsx', script, redis.url, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.lines.push(l));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    children.add(this);
    void this.exited.then(() => children.delete(this));
  }

  async waitFor(line: string, timeoutMs = 60_000): Promise<void> {
    await until(() => this.lines.includes(line), timeoutMs, `the child to print "${line}"`);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

test('bullmq: a consumer killed mid-job: the job goes to another consumer once its lock expires', { timeout: 120_000 }, async () => {
  const name = freshName();
  const child = new ChildConsumer(name);
  const givenUp: string[] = [];
  const q = bull(name, { onGiveUp: (j) => void givenUp.push(j.id) });
  try {
    await child.waitFor('ready');
    await q.add(job('orphan'));
    await child.waitFor('started orphan');
    await child.kill();
    const killedAt = Date.now();
    assert.deepEqual(await q.counts(), { waiting: 0, running: 1 }, 'the dead consumer still holds it');
    const ran: string[] = [];
    q.process(async (j) => void ran.push(j.id));
    await until(() => ran.length > 0 || givenUp.length > 0, 15_000, 'the orphaned job to come back');
    assert.deepEqual(ran, ['orphan']);
    assert.deepEqual(givenUp, []);
    const took = Date.now() - killedAt;
    assert.ok(took < 10_000, `re-delivered ${took} ms after the kill`);
  } finally {
    await child.kill();
    await q.close();
  }
});

test('bullmq: a job whose consumer is killed twice is given up, and onGiveUp hears of it', { timeout: 120_000 }, async () => {
  const name = freshName();
  const givenUp: { job: Job; reason: string }[] = [];
  const ran: string[] = [];
  const first = new ChildConsumer(name);
  let second: ChildConsumer | undefined;
  const q = bull(name, { onGiveUp: (j, reason) => void givenUp.push({ job: j, reason }) });
  try {
    await first.waitFor('ready');
    await q.add(job('doomed'));
    await first.waitFor('started doomed');
    await first.kill();
    second = new ChildConsumer(name); // the only consumer now: the stalled job comes to it
    await second.waitFor('started doomed');
    await second.kill();
    q.process(async (j) => void ran.push(j.id));
    await until(() => givenUp.length > 0, 15_000, 'onGiveUp');
    assert.deepEqual(givenUp[0]!.job, job('doomed'));
    assert.match(givenUp[0]!.reason, /stalled/);
    await q.add(job('after'));
    await until(() => ran.includes('after'), 5000, 'the next job');
    assert.deepEqual(ran, ['after'], 'the given-up job never reached a handler a third time');
    assert.deepEqual(await q.counts(), { waiting: 0, running: 0 });
  } finally {
    await first.kill();
    await second?.kill();
    await q.close();
  }
});

test('bullmq + redis bus: close does not wait for a Redis that is down', { timeout: 60_000 }, async () => {
  const name = freshName();
  const consumer = bull(name);
  const producer = bull(name);
  const bus = new RedisEventBus({ url: redis.url, prefix: `${name}:`, log });
  const started = deferred();
  let cause: string | undefined;
  consumer.process(async (_j, signal) => {
    started.resolve();
    await aborted(signal);
    cause = String(signal.reason?.message);
  });
  await bus.subscribe('job:x', () => undefined).ready;
  await producer.add(job('running-when-redis-dies'));
  await started.promise;
  await redis.kill();
  try {
    const t0 = Date.now();
    await Promise.all([consumer.close({ graceMs: 200 }), producer.close(), bus.close()]);
    assert.ok(Date.now() - t0 < 3000, `closed in ${Date.now() - t0} ms`);
    assert.equal(cause, 'shutting down');
  } finally {
    await redis.restart();
  }
});

test('bullmq + redis bus: a consumer keeps consuming, and a subscriber keeps hearing, after redis-server restarts', { timeout: 120_000 }, async () => {
  const name = freshName();
  const q = bull(name);
  const producer = bull(name, { commandTimeoutMs: 300 });
  const prefix = `${freshName()}:`;
  const busA = new RedisEventBus({ url: redis.url, prefix, log });
  const busB = new RedisEventBus({ url: redis.url, prefix, log });
  try {
    const runs: string[] = [];
    q.process(async (j) => void runs.push(j.id));
    const heard: number[] = [];
    const sub = busB.subscribe('job:r', (e) => heard.push(e.type === 'progress' ? e.step : -1));
    await sub.ready;
    await q.add(job('before'));
    await until(() => runs.includes('before'), 5000, 'job before');
    busA.publish('job:r', { type: 'progress', id: 'r', kind: 'generate', step: 1, total: 2, at: 'x' });
    await until(() => heard.includes(1), 5000, 'event 1');

    await redis.kill();
    await assert.rejects(q.ping(500), /redis/, 'readiness fails while Redis is down');
    await assert.rejects(busB.ping(500), /redis/);
    const t0 = Date.now();
    await assert.rejects(producer.add(job('while-down')), /redis did not answer within 300 ms/, 'add does not hang while Redis is down');
    await assert.rejects(producer.counts(), /redis/);
    assert.ok(Date.now() - t0 < 2000);
    await redis.restart(); // empty: what it held is gone (the database re-adds what it thinks lost)
    // ioredis reconnects (backoff up to 2 s), the Worker goes back to waiting for jobs, the bus resubscribes.
    await until(
      async () => {
        try {
          await Promise.all([q.ping(500), busA.ping(), busB.ping()]);
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      'readiness after the restart',
    );
    await q.add(job('after'));
    await until(() => runs.includes('after'), 15_000, 'job after, once Redis is back');
    await until(
      () => {
        busA.publish('job:r', { type: 'progress', id: 'r', kind: 'generate', step: 2, total: 2, at: 'x' });
        return heard.includes(2);
      },
      10_000,
      'event 2 after the restart',
    );
    // What add() gave up on may still land once Redis is back (the command waited in the connection's queue).
    assert.deepEqual(
      runs.filter((id) => id !== 'while-down'),
      ['before', 'after'],
    );
  } finally {
    await Promise.all([q.close(), producer.close(), busA.close(), busB.close()]);
  }
});

test('a Worker closed while its blocking connection waits to reconnect: dropWorker stops its lock extender, which close() never reaches', { timeout: 60_000 }, async () => {
  const worker = new Worker(freshName(), async () => undefined, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }, lockDuration: 2000 });
  worker.on('error', () => undefined);
  const internals = worker as unknown as { lockManager: { isRunning(): boolean }; blockingConnection: { client: Promise<Redis> } };
  const blocking = await internals.blockingConnection.client;
  try {
    await until(() => internals.lockManager.isRunning(), 5000, 'the lock extender to start');
    await redis.kill();
    // Past the first reconnect attempts, the connection spends nearly all its time waiting for the next one.
    await sleep(1000);
    await until(() => blocking.status === 'reconnecting', 5000, 'the blocking connection to wait to reconnect');
    // ioredis never emits 'end' for a connection disconnected while it waits, and close() waits for it
    // (most runs; one CI run caught the connection mid-attempt, and close() ended).
    void worker.close();
    await sleep(1000);
    await dropWorker(worker);
    // Its timer sets itself again every lockDuration / 4 until the lock manager is closed: left running, it keeps the process alive.
    assert.equal(internals.lockManager.isRunning(), false, 'the lock extender still runs');
  } finally {
    await redis.restart();
  }
});
