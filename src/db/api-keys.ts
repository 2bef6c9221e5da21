/** Queries on API keys (stored as SHA-256 hashes; the secret never reaches the database). */
import type { Executor } from './database.ts';
import type { ApiKey, User } from './schema.ts';
import { timestamp } from './clock.ts';

export async function insertApiKey(
  ex: Executor,
  key: { id: string; user_id: string; name: string; hash: string; short_string: string; webhook_url?: string | null; webhook_api_key?: string | null },
): Promise<ApiKey> {
  return ex
    .insertInto('api_keys')
    .values({ webhook_url: null, webhook_api_key: null, ...key, uses: 0, credits_spent: 0, created_at: timestamp(), last_used_at: null, revoked_at: null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The active key with this hash, and its user. */
export async function findActiveKeyByHash(ex: Executor, hash: string): Promise<{ key: ApiKey; user: User } | undefined> {
  const key = await ex
    .selectFrom('api_keys')
    .selectAll()
    .where('hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!key) return undefined;
  const user = await ex.selectFrom('users').selectAll().where('id', '=', key.user_id).executeTakeFirst();
  return user ? { key, user } : undefined;
}

export async function countActiveKeys(ex: Executor, userId: string): Promise<number> {
  const row = await ex
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function listApiKeys(ex: Executor, userId: string, which: 'active' | 'all' = 'active'): Promise<ApiKey[]> {
  let q = ex.selectFrom('api_keys').selectAll().where('user_id', '=', userId);
  if (which === 'active') q = q.where('revoked_at', 'is', null);
  return q.orderBy('created_at', 'desc').execute();
}

/** Revokes one of the user's active keys; false when there is none with that id. */
export async function revokeApiKey(ex: Executor, userId: string, id: string): Promise<boolean> {
  const r = await ex
    .updateTable('api_keys')
    .set({ revoked_at: timestamp() })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function touchApiKey(ex: Executor, id: string): Promise<void> {
  await ex.updateTable('api_keys').set({ last_used_at: timestamp() }).where('id', '=', id).execute();
}

/** One successful paid use of a key (Stablecog's uses / credits_spent). */
export async function recordApiKeyUse(ex: Executor, id: string, credits: number): Promise<void> {
  await ex
    .updateTable('api_keys')
    .set((eb) => ({ uses: eb('uses', '+', 1), credits_spent: eb('credits_spent', '+', credits), last_used_at: timestamp() }))
    .where('id', '=', id)
    .execute();
}

/** A key by id, revoked or not (to find the webhook of the key a generation was made with). */
export function getApiKey(ex: Executor, id: string): Promise<ApiKey | undefined> {
  return ex.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}
