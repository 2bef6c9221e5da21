/**
 * The per-key rate limit behaves the same with its buckets in memory and in Redis (a real
 * redis-server); in Redis, every API process draws from the same bucket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryBuckets, RateLimiter, type BucketStore } from '../../src/core/rate-limit.ts';
import { RateLimitedError } from '../../src/core/errors.ts';
import { RedisBuckets } from '../../src/queue/redis-rate-limit.ts';
import { openRedis } from '../../src/queue/redis.ts';
import { RedisServer } from '../helpers/redis.ts';
import { sleep, until } from './contract.ts';

let redis: RedisServer;
const clients: Redis[] = [];
let prefixes = 0;

before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop();
});

/** A limiter connection as the backend opens it: fails fast while Redis is away. */
function limiterConnection(log: (m: string) => void = () => undefined): Redis {
  const c = openRedis(redis.url, 'rate limit', log, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

async function redisBuckets(prefix = `rl${++prefixes}:`, log?: (m: string) => void): Promise<RedisBuckets> {
  const b = new RedisBuckets(limiterConnection(log), prefix, log);
  await b.ping(5000);
  return b;
}

const stores: [string, () => Promise<BucketStore>][] = [
  ['memory', async () => new MemoryBuckets()],
  ['redis', () => redisBuckets()],
];

for (const [label, make] of stores) {
  test(`${label}: a key gets its per-second limit as a burst, then RateLimitedError until a token is back`, { timeout: 30_000 }, async () => {
    const limiter = new RateLimiter(2, await make());
    assert.deepEqual(await limiter.take('k'), { limit: 2, remaining: 1 });
    assert.deepEqual(await limiter.take('k'), { limit: 2, remaining: 0 });
    const before = Date.now();
    const err = await limiter.take('k').then(
      () => assert.fail('a third request within the second must be refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RateLimitedError);
    assert.equal(err.retryAfterSeconds, 1);
    assert.equal(err.limit, 2);
    assert.ok(err.resetAt >= Math.floor(before / 1000) && err.resetAt <= Math.ceil((Date.now() + 1000) / 1000), `resetAt ${err.resetAt}`);
    assert.deepEqual(await limiter.take('other'), { limit: 2, remaining: 1 }, 'keys are independent');
    await sleep(600); // one token comes back every 500 ms
    assert.deepEqual(await limiter.take('k'), { limit: 2, remaining: 0 });
    await assert.rejects(limiter.take('k'), RateLimitedError);
  });

  test(`${label}: a limit of 0 turns the limiter off`, async () => {
    const limiter = new RateLimiter(0, await make());
    for (let i = 0; i < 5; i++) assert.deepEqual(await limiter.take('k'), { limit: 0, remaining: 0 });
  });
}

test('memory: the bucket refills at the limit per second (a clock of its own)', async () => {
  let now = 1_000_000;
  const limiter = new RateLimiter(4, new MemoryBuckets(() => now), () => now);
  for (let i = 3; i >= 0; i--) assert.equal((await limiter.take('k')).remaining, i);
  const err = (await limiter.take('k').catch((e: unknown) => e)) as RateLimitedError;
  assert.equal(err.retryAfterSeconds, 1);
  assert.equal(err.resetAt, Math.ceil((now + 250) / 1000));
  now += 500; // two tokens back
  assert.equal((await limiter.take('k')).remaining, 1);
  now += 10_000; // never more than the burst
  assert.equal((await limiter.take('k')).remaining, 3);
});

test('redis: two API processes draw from one bucket, and a bucket expires once it would be full again', { timeout: 30_000 }, async () => {
  const prefix = `shared${++prefixes}:`;
  const a = new RateLimiter(3, await redisBuckets(prefix));
  const b = new RateLimiter(3, await redisBuckets(prefix));
  assert.equal((await a.take('key1')).remaining, 2);
  assert.equal((await b.take('key1')).remaining, 1);
  assert.equal((await a.take('key1')).remaining, 0);
  await assert.rejects(b.take('key1'), RateLimitedError);
  await assert.rejects(a.take('key1'), RateLimitedError);
  const raw = new Redis(redis.url);
  clients.push(raw);
  const pttl = await raw.pttl(`${prefix}key1`);
  assert.ok(pttl > 0 && pttl <= 2000, `the bucket's key expires (pttl ${pttl} ms)`);
});

test('redis: while Redis is down, requests are let through (and logged) rather than refused', { timeout: 30_000 }, async () => {
  const logs: string[] = [];
  const buckets = await redisBuckets(`down${++prefixes}:`, (m) => logs.push(m));
  const limiter = new RateLimiter(1, buckets);
  assert.equal((await limiter.take('k')).remaining, 0);
  await assert.rejects(limiter.take('k'), RateLimitedError);
  await redis.kill();
  try {
    const t0 = Date.now();
    assert.deepEqual(await limiter.take('k'), { limit: 1, remaining: 0 });
    assert.ok(Date.now() - t0 < 1000, 'it does not wait for Redis');
    assert.ok(logs.some((m) => /rate limit not checked/.test(m)), logs.join('\n'));
    await assert.rejects(buckets.ping(300), /redis/);
  } finally {
    await redis.restart();
  }
  await until(
    () =>
      buckets.ping(500).then(
        () => true,
        () => false,
      ),
    15_000,
    'the limiter to reconnect',
  );
  assert.equal((await limiter.take('k')).remaining, 0, 'counting again once Redis is back (an empty one)');
});
