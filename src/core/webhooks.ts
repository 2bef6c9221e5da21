/**
 * Webhook callbacks: an API key may carry a callback URL (and a secret the receiver expects, sent as
 * `Authorization: Bearer <secret>`), as Leonardo's production keys do. When a generation made with
 * such a key ends, the dialect that made it builds its payload (its own wire format) and Darkroom
 * POSTs it, retrying network errors, timeouts, 408, 429 and 5xx with growing delays. Every attempt
 * goes through the URL guard: never to loopback, private or link-local addresses (unless
 * allow-listed), no redirects followed. What is owed lives in the outbox table, written in the same
 * transaction as the generation's end (by whichever worker ran it); API processes send it, so a
 * worker never calls into a dialect and a webhook survives any process dying.
 */
import type { Database } from '../db/database.ts';
import * as keysDb from '../db/api-keys.ts';
import { timestamp } from '../db/clock.ts';
import * as gens from '../db/generations.ts';
import * as outbox from '../db/webhook-outbox.ts';
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
  /** How often the outbox is read for what is due. */
  pollMs: number;
  log: (message: string) => void;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { retryDelaysMs: [1000, 5000, 25000], timeoutMs: 10_000, pollMs: 500, log: () => undefined };

export class Webhooks {
  private readonly builders = new Map<string, WebhookPayloadBuilder>();
  private readonly stop = new AbortController();
  private timer?: NodeJS.Timeout;
  private sending?: Promise<unknown>;
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

  /** Starts sending what the outbox holds, every pollMs, until close(). */
  start(): void {
    this.timer ??= setInterval(() => {
      this.sending ??= this.sendDue()
        .catch((err: unknown) => this.options.log(`webhooks: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => (this.sending = undefined));
    }, this.options.pollMs);
    this.timer.unref();
  }

  /** One pass over the outbox: each due webhook gets one attempt; a failed one is rescheduled or given up. */
  async sendDue(): Promise<number> {
    const kysely = this.deps.db.kysely;
    let sent = 0;
    for (const row of await outbox.due(kysely, timestamp(), 20)) {
      if (this.stop.signal.aborted) break;
      // Taken for one attempt; should this process die during it, the row falls due again after this.
      if (!(await outbox.take(kysely, row, later(this.options.timeoutMs * 3)))) continue;
      const attempt = await this.attemptFor(row.generation_id);
      const attempts = row.attempts + 1;
      if (attempt.ok) {
        await outbox.settle(kysely, row.id, { delivered_at: timestamp(), last_error: attempt.error ?? null });
        sent++;
        continue;
      }
      const delay = attempt.retry ? this.options.retryDelaysMs[attempts - 1] : undefined;
      const error = (attempt.error ?? `HTTP ${attempt.status}`).slice(0, 500);
      if (delay === undefined) {
        await outbox.settle(kysely, row.id, { gave_up_at: timestamp(), last_error: error });
        this.options.log(`webhook for generation ${row.generation_id} failed after ${attempts} attempt(s): ${error}`);
      } else {
        await outbox.settle(kysely, row.id, { next_attempt_at: later(delay), last_error: error });
      }
    }
    return sent;
  }

  /** One delivery attempt of a finished generation's webhook (ok without a request when its dialect sends nothing for it). */
  private async attemptFor(generationId: string): Promise<Attempt> {
    const kysely = this.deps.db.kysely;
    const generation = await gens.getGeneration(kysely, generationId);
    const key = generation?.api_key_id ? await keysDb.getApiKey(kysely, generation.api_key_id) : undefined;
    if (!generation || !key?.webhook_url) return { ok: true, retry: false, error: 'nothing to send: no callback URL' };
    const settings = storedSettings(generation);
    const builder = this.builders.get(settings.dialect ?? 'stablecog');
    const payload = builder?.({ generation, outputs: await gens.outputsOf(kysely, generationId), settings, key, imagePath: this.deps.imagePath });
    if (payload === undefined) return { ok: true, retry: false, error: 'nothing to send for this dialect and status' };
    return this.attempt(key.webhook_url, key.webhook_api_key ?? undefined, payload);
  }

  /** POSTs `payload` as JSON to `url` once; says whether a later attempt may pass. */
  async attempt(url: string, bearer: string | undefined, payload: unknown): Promise<Attempt> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Darkroom-Webhook/1' };
    if (bearer) headers['authorization'] = `Bearer ${bearer}`;
    try {
      const res = await this.deps.guard.request(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        maxBytes: 64 * 1024,
        timeoutMs: this.options.timeoutMs,
        maxRedirects: 0,
        signal: this.stop.signal,
      });
      if (res.status >= 200 && res.status < 300) return { ok: true, retry: false, status: res.status };
      return { ok: false, retry: res.status === 408 || res.status === 429 || res.status >= 500, status: res.status };
    } catch (err) {
      // A refused address, scheme or redirect will be refused again: no retry.
      const refused = err instanceof UrlRefusedError ? err : undefined;
      return { ok: false, retry: !refused || ['timeout', 'network', 'dns'].includes(refused.reason), error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Stops sending; what is still owed stays in the outbox for the next process. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stop.abort(new Error('server stopping'));
    await this.sending;
  }
}

interface Attempt {
  ok: boolean;
  /** Whether a later attempt may pass (network trouble, 408, 429, 5xx). */
  retry: boolean;
  status?: number;
  error?: string;
}

function later(ms: number): string {
  return new Date(Date.now() + ms).toISOString().replace('Z', '000Z');
}
