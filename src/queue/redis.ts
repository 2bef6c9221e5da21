/** What the Redis-backed queue classes share: connection options from a URL, a readiness ping, quiet error logging. */
import { Redis, type RedisOptions } from 'ioredis';

export type QueueLog = (message: string) => void;

/** Prefix of every key and channel Darkroom keeps in Redis. */
export const REDIS_PREFIX = 'darkroom';

/**
 * ioredis options for `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS).
 * `maxRetriesPerRequest: null`: a command waits through a reconnect instead of failing (BullMQ requires
 * it on its connections); ioredis reconnects on its own, with a backoff capped at 2 s.
 */
export function redisOptions(url: string, extra: RedisOptions = {}): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a redis:// URL: ${url}`);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...extra,
  };
}

/** A connection of our own, its errors logged once per distinct message (a Redis that is down would repeat one every retry). */
export function openRedis(url: string, label: string, log: QueueLog, extra: RedisOptions = {}): Redis {
  const client = new Redis(redisOptions(url, extra));
  quietErrors(client, label, log);
  return client;
}

/** Logs an emitter's 'error' events (once per distinct message until it reconnects), so they neither crash nor flood. */
export function quietErrors(emitter: { on(event: string, listener: (...args: never[]) => void): unknown }, label: string, log: QueueLog): void {
  let last = '';
  emitter.on('error', ((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (message === last) return;
    last = message;
    log(`redis (${label}): ${message}`);
  }) as (...args: never[]) => void);
  emitter.on('ready', (() => {
    if (last) log(`redis (${label}): connected again`);
    last = '';
  }) as (...args: never[]) => void);
}

/**
 * Readiness: resolves when `client` is connected and answers PING, all within `timeoutMs` (a client
 * still connecting for the first time gets that long to connect); rejects otherwise, at once when the
 * connection is lost.
 */
export async function pingRedis(client: Redis, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    await Promise.race([
      (async () => {
        // Lost (and trying again) or closed: not reachable now. A new connection gets the time to connect.
        if (client.status === 'end' || client.status === 'close' || client.status === 'reconnecting') throw new Error(`redis is not reachable (connection ${client.status})`);
        if (client.status !== 'ready') await new Promise<void>((resolve) => client.once('ready', (onReady = resolve)));
        await client.ping().catch((err: Error) => {
          throw new Error(`redis is not reachable (${err.message})`);
        });
      })(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs} ms (connection ${client.status})`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
    if (onReady) client.off('ready', onReady);
  }
}

/**
 * Resolves once `client` has finished connecting (its handshake and ready check done), at once when it
 * has; rejects if it is closed for good first. A subscriber waits for this before SUBSCRIBE: ioredis 5
 * writes SUBSCRIBE straight away on a connection that is past TCP connect but still in its handshake,
 * and once the reply puts the connection in subscriber mode, its own ready check (INFO) is refused,
 * so it drops the connection and reconnects 100 ms later: the subscription, already confirmed, is gone
 * for that long (ioredis issue 2037, fixed in ioredis 6 which BullMQ 5 does not use).
 */
export function whenReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') return Promise.reject(new Error('the redis connection is closed'));
  return new Promise<void>((resolve, reject) => {
    const ready = () => {
      client.off('end', ended);
      resolve();
    };
    const ended = () => {
      client.off('ready', ready);
      reject(new Error('the redis connection is closed'));
    };
    client.once('ready', ready);
    client.once('end', ended);
  });
}

/**
 * Closes a connection: QUIT when connected (given `timeoutMs`: a Redis that just went away would
 * leave QUIT waiting for a reconnect), else, or then, drops it.
 */
export async function closeRedis(client: Redis, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const quit = client.quit().then(
      () => true,
      () => false,
    );
    const done = await Promise.race([quit, new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    if (done) return;
  }
  client.disconnect();
}
