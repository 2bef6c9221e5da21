/**
 * The event bus over Redis pub/sub (scaled out: progress and completion travel from the worker that
 * runs a job to whichever API process holds the waiting request or the SSE stream).
 *
 * One connection publishes (so events reach Redis, and every subscriber, in publish order), one
 * subscribes: a channel is SUBSCRIBEd when its first local listener arrives and UNSUBSCRIBEd when its
 * last leaves. Events are JSON on the wire, on channels named `darkroom:<channel>`. ioredis reconnects
 * after Redis restarts and subscribes again; events published while Redis was away are lost (pub/sub
 * keeps nothing), so listeners must not rely on seeing every one (a poll of the database is the truth).
 */
import type { Redis } from 'ioredis';
import type { EventBus, JobEvent, Unsubscribe } from './types.ts';
import { REDIS_PREFIX, closeRedis, openRedis, pingRedis, whenReady, type QueueLog } from './redis.ts';

export interface RedisEventBusOptions {
  /** `redis://…` */
  url: string;
  /** Channel prefix (default `darkroom:`); buses with different prefixes do not hear each other. */
  prefix?: string;
  log?: QueueLog;
}

export class RedisEventBus implements EventBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly log: QueueLog;
  /** Local listeners by (unprefixed) channel; each entry is one subscription. */
  private readonly listeners = new Map<string, Set<{ listener: (event: JobEvent) => void }>>();
  /** The last SUBSCRIBE/UNSUBSCRIBE sent per channel, so a subscription's `ready` waits for its own. */
  private readonly pending = new Map<string, Promise<void>>();
  private closed = false;

  constructor(options: RedisEventBusOptions) {
    this.prefix = options.prefix ?? `${REDIS_PREFIX}:`;
    this.log = options.log ?? (() => undefined);
    this.pub = openRedis(options.url, 'events publisher', this.log);
    this.sub = openRedis(options.url, 'events subscriber', this.log);
    this.sub.on('message', (channel: string, message: string) => this.deliver(channel, message));
  }

  publish(channel: string, event: JobEvent): void {
    if (this.closed) return;
    this.pub.publish(this.prefix + channel, JSON.stringify(event)).catch((err: Error) => this.log(`could not publish on ${channel}: ${err.message}`));
  }

  subscribe(channel: string, listener: (event: JobEvent) => void): Unsubscribe {
    if (this.closed) {
      const ready = Promise.reject(new Error('the event bus is closed'));
      ready.catch(() => undefined);
      return Object.assign(() => undefined, { ready });
    }
    let set = this.listeners.get(channel);
    const entry = { listener };
    let ready: Promise<void>;
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      ready = this.send(channel, 'subscribe');
    } else {
      ready = this.pending.get(channel) ?? Promise.resolve();
    }
    set.add(entry);
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      const s = this.listeners.get(channel);
      if (!s?.delete(entry) || s.size > 0) return;
      this.listeners.delete(channel);
      if (!this.closed) void this.send(channel, 'unsubscribe').catch(() => undefined);
    };
    // A subscription whose SUBSCRIBE failed (connection closed) is not worth an unhandled rejection.
    ready.catch(() => undefined);
    return Object.assign(unsubscribe, { ready });
  }

  /**
   * Sends SUBSCRIBE or UNSUBSCRIBE for one channel once the subscriber connection is ready (whenReady
   * says why: sent during the handshake, a confirmed SUBSCRIBE is dropped with the connection), after
   * the previous one for it: the waits resolve in the order they began, so the commands keep theirs.
   */
  private send(channel: string, command: 'subscribe' | 'unsubscribe'): Promise<void> {
    const name = this.prefix + channel;
    const p = whenReady(this.sub)
      .then(() => (command === 'subscribe' ? this.sub.subscribe(name) : this.sub.unsubscribe(name)))
      .then(
        () => undefined,
        (err: Error) => {
          this.log(`could not ${command} ${channel}: ${err.message}`);
          throw err;
        },
      );
    this.pending.set(channel, p);
    const forget = () => {
      if (this.pending.get(channel) === p) this.pending.delete(channel);
    };
    p.then(forget, forget);
    return p;
  }

  private deliver(prefixed: string, message: string): void {
    if (!prefixed.startsWith(this.prefix)) return;
    const set = this.listeners.get(prefixed.slice(this.prefix.length));
    if (!set) return;
    let event: JobEvent;
    try {
      event = JSON.parse(message) as JobEvent;
    } catch {
      this.log(`ignored a message that is not JSON on ${prefixed}`);
      return;
    }
    for (const { listener } of [...set]) {
      try {
        listener(event);
      } catch (err) {
        this.log(`an event listener on ${prefixed} threw: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  }

  /** Readiness: both connections up and Redis answering. */
  async ping(timeoutMs = 2000): Promise<void> {
    await Promise.all([pingRedis(this.pub, timeoutMs), pingRedis(this.sub, timeoutMs)]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all([closeRedis(this.pub), closeRedis(this.sub)]);
  }
}
