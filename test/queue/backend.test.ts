/**
 * DARKROOM_REDIS_URL picks the backend: none, everything in this process; set, BullMQ and Redis
 * pub/sub, where separate processes (here two backends) share one queue, one bus and one rate limit.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { RateLimitedError } from '../../src/core/errors.ts';
import { openQueueBackend } from '../../src/queue/backend.ts';
import { InProcessJobQueue } from '../../src/queue/in-process.ts';
import { BullJobQueue } from '../../src/queue/bullmq.ts';
import type { JobEvent } from '../../src/queue/types.ts';
import { RedisServer } from '../helpers/redis.ts';
import { deferred, job, until } from './contract.ts';

let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis.stop();
});

test('DARKROOM_REDIS_URL: empty by default, redis:// or rediss:// URLs, anything else named in the error', () => {
  assert.equal(loadConfig({}).redisUrl, '');
  assert.equal(loadConfig({ DARKROOM_REDIS_URL: 'redis://:secret@redis.internal:6380/2' }).redisUrl, 'redis://:secret@redis.internal:6380/2');
  assert.equal(loadConfig({ DARKROOM_REDIS_URL: 'rediss://cache.example.com' }).redisUrl, 'rediss://cache.example.com');
  for (const bad of ['http://redis:6379', 'localhost:6379', 'redis://']) {
    assert.throws(
      () => loadConfig({ DARKROOM_REDIS_URL: bad }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('DARKROOM_REDIS_URL=') && /redis:\/\//.test(p)),
      bad,
    );
  }
});

test('no Redis URL: one in-process queue per name, an in-process bus and limiter', async () => {
  const backend = await openQueueBackend({ redisUrl: '', rateLimit: 1 });
  assert.equal(backend.kind, 'in-process');
  const q = backend.queue('jobs');
  assert.ok(q instanceof InProcessJobQueue);
  assert.equal(backend.queue('jobs'), q, 'the producer and the consumer in this process meet on one object');
  assert.notEqual(backend.queue('other'), q);
  const ran = deferred<string>();
  q.process(async (j) => ran.resolve(j.id));
  await backend.queue('jobs').add(job('j1'));
  assert.equal(await ran.promise, 'j1');
  await backend.rateLimiter.take('k');
  await assert.rejects(backend.rateLimiter.take('k'), RateLimitedError);
  await backend.ping();
  await Promise.all([backend.close(), backend.close()]);
  assert.throws(() => backend.queue('jobs'), /closed/);
});

test('Redis URL: two processes share the queue, the bus and the rate limit; ping reports Redis', { timeout: 60_000 }, async () => {
  const prefix = `b${process.pid}`;
  const givenUp: string[] = [];
  const api = await openQueueBackend({ redisUrl: redis.url, rateLimit: 2 }, () => undefined, { prefix });
  const worker = await openQueueBackend({ redisUrl: redis.url, rateLimit: 2 }, () => undefined, { prefix, onGiveUp: (j) => void givenUp.push(j.id) });
  try {
    assert.equal(api.kind, 'redis');
    assert.ok(api.queue('jobs') instanceof BullJobQueue);
    assert.equal(api.queue('jobs'), api.queue('jobs'));

    const heard: JobEvent[] = [];
    const sub = api.events.subscribe('job:g1', (e) => heard.push(e));
    await sub.ready;
    worker.queue('jobs').process(async (j) => {
      worker.events.publish(`job:${j.id}`, { type: 'status', id: j.id, kind: 'generate', status: 'succeeded', at: 't' });
      if (j.id === 'boom') throw new Error('escaped');
    });
    await api.queue('jobs').add(job('g1'));
    await until(() => heard.length === 1, 10_000, 'the worker process to report over the bus');
    assert.deepEqual(heard, [{ type: 'status', id: 'g1', kind: 'generate', status: 'succeeded', at: 't' }]);

    await api.queue('jobs').add(job('boom'));
    await until(() => givenUp.includes('boom'), 10_000, 'onGiveUp for a job whose handler threw');

    await api.rateLimiter.take('key');
    await worker.rateLimiter.take('key');
    await assert.rejects(api.rateLimiter.take('key'), RateLimitedError, 'one bucket across processes');

    await Promise.all([api.ping(), worker.ping()]);
    await redis.kill();
    await assert.rejects(api.ping(), /redis/);
    const t0 = Date.now();
    await api.close(); // just after Redis died: QUIT alone would wait for a reconnect
    assert.ok(Date.now() - t0 < 4000, `closed in ${Date.now() - t0} ms with Redis down`);
    await redis.restart();
    await until(
      () =>
        worker.ping().then(
          () => true,
          () => false,
        ),
      15_000,
      'readiness once Redis is back',
    );
  } finally {
    await Promise.all([api.close(), worker.close()]);
  }
});
