/**
 * Webhook callbacks: an API key may carry a callback URL (and a secret the receiver expects, sent as
 * `Authorization: Bearer <secret>`), as Leonardo's production keys do. When a generation made with
 * such a key ends, the dialect that made it builds its payload (its own wire format) and Darkroom
 * POSTs it, retrying network errors, timeouts, 408, 429 and 5xx with growing delays. Every attempt
 * goes through the URL guard: never to loopback, private or link-local addresses (unless
 * allow-listed), no redirects followed. Delivery runs in the background; the worker never waits on it.
 */
import type { Database } from '../db/database.ts';
import * as keysDb from '../db/api-keys.ts';
import * as gens from '../db/generations.ts';
import type { ApiKey, Generation, GenerationOutput } from '../db/schema.ts';
import { storedSettings, type StoredSettings } from './generations.ts';
import { UrlGuard, UrlRefusedError } from './url-guard.ts';

export interface WebhookContext {
  generation: Generation;
  outputs: GenerationOutput[];
  settings: StoredSettings;
  key: ApiKey;
  /** Server-relative signed path of a stored image (/images/...?sig=...). */
  imagePath: (objectKey: string) => string;
}

/** Builds a dialect's payload for a finished generation, or undefined when that dialect sends nothing for it. */
export type WebhookPayloadBuilder = (ctx: WebhookContext) => unknown;

export interface WebhookOptions {
  /** Waits before the 2nd, 3rd, ... attempt; its length + 1 is the number of attempts. */
  retryDelaysMs: readonly number[];
  /** Per attempt. */
  timeoutMs: number;
  log: (message: string) => void;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { retryDelaysMs: [1000, 5000, 25000], timeoutMs: 10_000, log: () => undefined };

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

export class Webhooks {
  private readonly builders = new Map<string, WebhookPayloadBuilder>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly stop = new AbortController();
  private readonly options: WebhookOptions;

  constructor(
    private readonly deps: { db: Database; guard: UrlGuard; imagePath: (objectKey: string) => string },
    options: Partial<WebhookOptions> = {},
  ) {
    this.options = { ...DEFAULT_WEBHOOK_OPTIONS, ...options };
  }

  /** The payload builder of a dialect (generations record the dialect that made them). */
  register(dialect: string, builder: WebhookPayloadBuilder): void {
    this.builders.set(dialect, builder);
  }

  /** A generation ended: when its key has a callback and its dialect a payload for it, deliver in the background. */
  async generationFinished(id: string): Promise<void> {
    const kysely = this.deps.db.kysely;
    const generation = await gens.getGeneration(kysely, id);
    if (!generation?.api_key_id) return;
    const settings = storedSettings(generation);
    const builder = this.builders.get(settings.dialect ?? 'stablecog');
    if (!builder) return;
    const key = await keysDb.getApiKey(kysely, generation.api_key_id);
    if (!key?.webhook_url) return;
    const outputs = await gens.outputsOf(kysely, id);
    const payload = builder({ generation, outputs, settings, key, imagePath: this.deps.imagePath });
    if (payload === undefined) return;
    const url = key.webhook_url;
    const delivery = this.deliver(url, key.webhook_api_key ?? undefined, payload).then((r) => {
      if (!r.ok) this.options.log(`webhook for generation ${id} to ${url} failed after ${r.attempts} attempt(s): ${r.error ?? `HTTP ${r.status}`}`);
    });
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }

  /** POSTs `payload` as JSON to `url`, retrying what may pass on a later try. */
  async deliver(url: string, bearer: string | undefined, payload: unknown): Promise<DeliveryResult> {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Darkroom-Webhook/1' };
    if (bearer) headers['authorization'] = `Bearer ${bearer}`;
    const attempts = this.options.retryDelaysMs.length + 1;
    let last: DeliveryResult = { ok: false, attempts: 0 };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.stop.signal.aborted) return { ...last, error: 'server stopping' };
      try {
        const res = await this.deps.guard.request(url, {
          method: 'POST',
          headers,
          body,
          maxBytes: 64 * 1024,
          timeoutMs: this.options.timeoutMs,
          maxRedirects: 0,
          signal: this.stop.signal,
        });
        if (res.status >= 200 && res.status < 300) return { ok: true, attempts: attempt, status: res.status };
        last = { ok: false, attempts: attempt, status: res.status };
        if (!(res.status === 408 || res.status === 429 || res.status >= 500)) return last;
      } catch (err) {
        const refused = err instanceof UrlRefusedError ? err : undefined;
        last = { ok: false, attempts: attempt, error: err instanceof Error ? err.message : String(err) };
        // A refused address, scheme or redirect will be refused again: no retry.
        if (refused && !['timeout', 'network', 'dns'].includes(refused.reason)) return last;
      }
      const delay = this.options.retryDelaysMs[attempt - 1];
      if (delay === undefined) break;
      await sleep(delay, this.stop.signal);
    }
    return last;
  }

  /** Stops retrying and waits for deliveries in flight to end. */
  async close(): Promise<void> {
    this.stop.abort(new Error('server stopping'));
    await Promise.allSettled([...this.pending]);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
