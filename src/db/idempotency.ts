/**
 * Queries on idempotency keys (src/core/idempotency.ts holds the rules). Every write is conditional
 * on the row's state and owner, so two API processes racing on one key cannot both win: the insert
 * is guarded by the (user_id, key) primary key, a takeover by the stale claim it replaces, a save
 * or a release by the claim it belongs to. Times are stored timestamps (ISO-8601 with microseconds,
 * see clock.ts); `isoAt` writes any instant in that same form, so text comparison is time comparison.
 */
import type { Executor } from './database.ts';
import type { IdempotencyKey } from './schema.ts';

/** An instant (ms since the epoch) as a stored timestamp: "2025-01-02T03:04:05.123000Z". */
export function isoAt(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

export interface NewIdempotencyKey {
  user_id: string;
  key: string;
  fingerprint: string;
  owner: string;
  now: string;
  expires_at: string;
}

/** Reserves the key for this request (state running); false when the user already has a row for it. */
export async function reserveIdempotencyKey(ex: Executor, row: NewIdempotencyKey): Promise<boolean> {
  const r = await ex
    .insertInto('idempotency_keys')
    .values({
      user_id: row.user_id,
      key: row.key,
      fingerprint: row.fingerprint,
      state: 'running',
      owner: row.owner,
      locked_at: row.now,
      created_at: row.now,
      expires_at: row.expires_at,
    })
    .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export function getIdempotencyKey(ex: Executor, userId: string, key: string): Promise<IdempotencyKey | undefined> {
  return ex.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).where('key', '=', key).executeTakeFirst();
}

/** The running request's heartbeat: moves locked_at to now while `owner` still holds the claim. */
export async function renewIdempotencyClaim(ex: Executor, userId: string, key: string, owner: string, now: string): Promise<boolean> {
  const r = await ex
    .updateTable('idempotency_keys')
    .set({ locked_at: now })
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/**
 * Takes over a running row whose claim went stale (not renewed since `staleBefore`: its process
 * died). Only one of several contenders wins: the update is conditional on the old owner.
 */
export async function takeOverIdempotencyKey(
  ex: Executor,
  userId: string,
  key: string,
  from: { owner: string; staleBefore: string },
  to: { owner: string; now: string },
): Promise<boolean> {
  const r = await ex
    .updateTable('idempotency_keys')
    .set({ owner: to.owner, locked_at: to.now })
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .where('owner', '=', from.owner)
    .where('state', '=', 'running')
    .where('locked_at', '<', from.staleBefore)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export interface SavedAnswer {
  status: number;
  /** JSON [[name, value], ...]. */
  headers: string;
  /** base64. */
  body: string;
}

/** Saves the answer (state done) if `owner` still holds the claim. */
export async function saveIdempotentAnswer(ex: Executor, userId: string, key: string, owner: string, answer: SavedAnswer): Promise<boolean> {
  const r = await ex
    .updateTable('idempotency_keys')
    .set({ state: 'done', status: answer.status, headers: answer.headers, body: answer.body })
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Gives the key up (a refused request: nothing ran, so a corrected retry may use it) if `owner` still holds it. */
export async function releaseIdempotencyKey(ex: Executor, userId: string, key: string, owner: string): Promise<boolean> {
  const r = await ex
    .deleteFrom('idempotency_keys')
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

/**
 * Deletes expired rows: done ones past expires_at, and running ones past it whose claim is also
 * stale (a live request keeps its row whatever the TTL). With `only`, just that user's key.
 */
export async function purgeExpiredIdempotencyKeys(
  ex: Executor,
  now: string,
  staleBefore: string,
  only?: { userId: string; key: string },
): Promise<number> {
  let q = ex
    .deleteFrom('idempotency_keys')
    .where('expires_at', '<=', now)
    .where((eb) => eb.or([eb('state', '=', 'done'), eb('locked_at', '<', staleBefore)]));
  if (only) q = q.where('user_id', '=', only.userId).where('key', '=', only.key);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}
