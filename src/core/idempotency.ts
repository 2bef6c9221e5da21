/**
 * Idempotent creates, as Stripe does them: a client sends `Idempotency-Key: <key>` with a POST, and
 * the same key sent again by the same user with the same request gets the first answer again instead
 * of a second run and a second charge.
 *
 * - The key is reserved before the request runs, by inserting its row; the (user_id, key) primary
 *   key makes that atomic across API processes sharing one database. The loser of a race, or any
 *   later request with the key while the first still runs, polls the row for the first's answer for
 *   at most `waitMs` (the generation timeout), then gets IdempotencyInProgressError (409).
 * - The same key with a different request (fingerprint: method, path, Accept, media type, body)
 *   is IdempotencyKeyReusedError (422), whatever the first's state; nothing runs.
 * - A running request renews its claim every leaseMs/3; a claim not renewed for `leaseMs` belongs
 *   to a process that died, and the next request with the key takes it over and runs.
 * - Keys are kept `ttlMs` (24 h by default) from their first use; expired rows are purged lazily
 *   (the key itself when met again, and all expired rows at most once a minute).
 *
 * What is saved is the HTTP layer's decision (src/api/idempotency.ts): `save` an answer, or
 * `release` the key when nothing was charged so a corrected retry may use it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import * as rows from '../db/idempotency.ts';
import type { IdempotencyKey } from '../db/schema.ts';
import { IdempotencyInProgressError, IdempotencyKeyReusedError, ValidationError } from './errors.ts';

export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

/** An answer as saved and replayed: status, headers (in order, repeats allowed) and body bytes. */
export interface IdempotentAnswer {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/** The running request's hold on its key: exactly one of save or release ends it. */
export interface IdempotencyClaim {
  readonly key: string;
  /** Saves the answer, to be replayed to every later request with the key. */
  save(answer: IdempotentAnswer): Promise<void>;
  /** Forgets the key (nothing was charged): the next request with it runs afresh. */
  release(): Promise<void>;
}

export type IdempotencyOutcome = { claim: IdempotencyClaim } | { replay: IdempotentAnswer };

export interface IdempotencyOptions {
  /** How long a key and its answer are kept from the key's first use. */
  ttlMs: number;
  /** How long a request waits for the answer of the first request with its key. */
  waitMs: number;
  /** A running claim not renewed for this long is abandoned and may be taken over (default 30 s). */
  leaseMs?: number;
  /** How often a waiting request reads the row (default 100 ms). */
  pollMs?: number;
  /** How often expired rows are purged, at most (default 60 s). */
  purgeEveryMs?: number;
  log?: (message: string) => void;
}

/**
 * The key as sent, checked: 1-255 printable ASCII characters. A value in double quotes (the IETF
 * draft sends a structured-field string) is the same key as without them.
 */
export function parseIdempotencyKey(raw: string): string {
  const trimmed = raw.trim();
  const key = /^".*"$/.test(trimmed) && trimmed.length >= 2 ? trimmed.slice(1, -1) : trimmed;
  if (key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH || !/^[\x20-\x7e]+$/.test(key)) {
    throw new ValidationError('Idempotency-Key', `Idempotency-Key: must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters`);
  }
  return key;
}

export interface RequestParts {
  method: string;
  /** Path and query string. */
  path: string;
  accept: string;
  contentType: string;
  body: Uint8Array;
}

/**
 * SHA-256 over the method, path, Accept, media type and body bytes. A multipart body's boundary is
 * chosen afresh each time a client serialises the same form, so it is left out: each occurrence
 * of it counts as one fixed marker, and the same form sent twice has the same fingerprint.
 */
export function requestFingerprint(parts: RequestParts): string {
  const [mediaType = ''] = parts.contentType.split(';');
  const hash = createHash('sha256');
  hash.update(`${parts.method.toUpperCase()}\n${parts.path}\n${parts.accept.trim()}\n${mediaType.trim().toLowerCase()}\n`);
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(parts.contentType);
  const boundary = m ? Buffer.from(m[1] ?? m[2]!, 'latin1') : undefined;
  const body = Buffer.from(parts.body.buffer, parts.body.byteOffset, parts.body.byteLength);
  if (!boundary || !/^multipart\//i.test(mediaType.trim())) {
    hash.update(body);
    return hash.digest('hex');
  }
  let from = 0;
  for (let at = body.indexOf(boundary, from); at >= 0; at = body.indexOf(boundary, from)) {
    hash.update(body.subarray(from, at));
    hash.update('\0boundary\0');
    from = at + boundary.length;
  }
  hash.update(body.subarray(from));
  return hash.digest('hex');
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function decode(row: IdempotencyKey): IdempotentAnswer {
  return {
    status: row.status ?? 500,
    headers: row.headers ? (JSON.parse(row.headers) as [string, string][]) : [],
    body: new Uint8Array(Buffer.from(row.body ?? '', 'base64')),
  };
}

export class Idempotency {
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly purgeEveryMs: number;
  private lastPurge = 0;

  constructor(
    private readonly db: Database,
    private readonly options: IdempotencyOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 100;
    this.purgeEveryMs = options.purgeEveryMs ?? 60_000;
  }

  /**
   * Reserves `key` for this request (then run it and end the claim), or gives the saved answer of
   * the first request with it (after waiting for it while it runs). Throws IdempotencyKeyReusedError
   * for a different request, IdempotencyInProgressError when the wait runs out (or `signal` aborts it).
   */
  async begin(userId: string, key: string, fingerprint: string, signal?: AbortSignal): Promise<IdempotencyOutcome> {
    await this.purgeNowAndThen();
    const ex = this.db.kysely;
    const deadline = Date.now() + this.options.waitMs;
    for (;;) {
      const now = Date.now();
      const owner = randomUUID();
      const stamp = rows.isoAt(now);
      const staleBefore = rows.isoAt(now - this.leaseMs);
      if (await rows.reserveIdempotencyKey(ex, { user_id: userId, key, fingerprint, owner, now: stamp, expires_at: rows.isoAt(now + this.options.ttlMs) })) {
        return { claim: this.claim(userId, key, owner) };
      }
      const row = await rows.getIdempotencyKey(ex, userId, key);
      if (!row) continue; // released or purged since the insert failed: try again
      if (row.expires_at <= stamp && (row.state === 'done' || row.locked_at < staleBefore)) {
        await rows.purgeExpiredIdempotencyKeys(ex, stamp, staleBefore, { userId, key });
        continue;
      }
      if (row.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key);
      if (row.state === 'done') return { replay: decode(row) };
      if (row.locked_at < staleBefore) {
        if (await rows.takeOverIdempotencyKey(ex, userId, key, { owner: row.owner, staleBefore }, { owner, now: stamp })) {
          this.options.log?.(`idempotency key of user ${userId}: the request holding it stopped renewing its claim; taken over`);
          return { claim: this.claim(userId, key, owner) };
        }
        continue;
      }
      if (now >= deadline || signal?.aborted) throw new IdempotencyInProgressError(key);
      await sleep(Math.min(this.pollMs, deadline - now));
    }
  }

  /** Deletes every expired row; the number deleted. */
  async purgeExpired(): Promise<number> {
    const now = Date.now();
    this.lastPurge = now;
    return rows.purgeExpiredIdempotencyKeys(this.db.kysely, rows.isoAt(now), rows.isoAt(now - this.leaseMs));
  }

  private async purgeNowAndThen(): Promise<void> {
    if (Date.now() - this.lastPurge < this.purgeEveryMs) return;
    try {
      const n = await this.purgeExpired();
      if (n) this.options.log?.(`purged ${n} expired idempotency key(s)`);
    } catch (err) {
      this.options.log?.(`purging expired idempotency keys failed: ${errorText(err)}`);
    }
  }

  private claim(userId: string, key: string, owner: string): IdempotencyClaim {
    const ex = this.db.kysely;
    const log = this.options.log;
    let ended = false;
    const renew = setInterval(() => {
      rows.renewIdempotencyClaim(ex, userId, key, owner, rows.isoAt(Date.now())).then(
        (held) => {
          if (!held) clearInterval(renew);
        },
        (err: unknown) => log?.(`renewing an idempotency claim failed: ${errorText(err)}`),
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    renew.unref();
    const end = () => {
      if (ended) throw new Error('this idempotency claim has already ended');
      ended = true;
      clearInterval(renew);
    };
    return {
      key,
      // Neither throws: the request's own answer goes out whatever happens to its copy here.
      save: async (answer) => {
        end();
        try {
          const saved = await rows.saveIdempotentAnswer(ex, userId, key, owner, {
            status: answer.status,
            headers: JSON.stringify(answer.headers),
            body: Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength).toString('base64'),
          });
          if (!saved) log?.(`the answer for an idempotency key of user ${userId} was not saved: its claim had been taken over or purged`);
        } catch (err) {
          log?.(`saving the answer for an idempotency key of user ${userId} failed (the key is taken over once its claim is stale): ${errorText(err)}`);
        }
      },
      release: async () => {
        end();
        try {
          await rows.releaseIdempotencyKey(ex, userId, key, owner);
        } catch (err) {
          log?.(`releasing an idempotency key of user ${userId} failed (it is taken over once its claim is stale): ${errorText(err)}`);
        }
      },
    };
  }
}
