/** Queries on API keys (stored as SHA-256 hashes; the secret never reaches the database). */
import type { CompiledQuery } from 'kysely';
import type { Executor } from './database.ts';
import type { ApiKey, User } from './schema.ts';
import { timestamp } from './clock.ts';
import { directReads } from './statement-cache.ts';

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

/**
 * The active key with this hash joined to its user, the columns named one by one: the direct read
 * below takes the values by position, in this order (a key's columns, then its user's).
 */
function activeKeyByHash(ex: Executor, hash: string) {
  return ex
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.user_id')
    .select([
      'api_keys.id',
      'api_keys.user_id',
      'api_keys.name',
      'api_keys.hash',
      'api_keys.short_string',
      'api_keys.uses',
      'api_keys.credits_spent',
      'api_keys.created_at',
      'api_keys.last_used_at',
      'api_keys.revoked_at',
      'api_keys.webhook_url',
      'api_keys.webhook_api_key',
      'users.name as user_name',
      'users.role as user_role',
      'users.credits as user_credits',
      'users.created_at as user_created_at',
      'users.updated_at as user_updated_at',
    ])
    .where('api_keys.hash', '=', hash)
    .where('api_keys.revoked_at', 'is', null);
}

type KeyRow = NonNullable<Awaited<ReturnType<ReturnType<typeof activeKeyByHash>['executeTakeFirst']>>>;
// Every column of api_keys is in the lookup (a new column must be added to it, or this fails to compile).
type Unselected = Exclude<keyof ApiKey, keyof KeyRow>;
const everyKeyColumn: [Unselected] extends [never] ? true : never = true;
void everyKeyColumn;

/** The lookup compiled once per handle: building and compiling it cost more than SQLite takes to run it. Its one parameter is the hash. */
const compiled = new WeakMap<Executor, CompiledQuery<KeyRow>>();

/** A row of the lookup as its values, in the query's column order (no row object is made for them: it cost as much as the query). */
function fromValues(v: readonly unknown[]): { key: ApiKey; user: User } {
  const userId = v[1] as string;
  return {
    key: {
      id: v[0],
      user_id: userId,
      name: v[2],
      hash: v[3],
      short_string: v[4],
      uses: v[5],
      credits_spent: v[6],
      created_at: v[7],
      last_used_at: v[8],
      revoked_at: v[9],
      webhook_url: v[10],
      webhook_api_key: v[11],
    } as ApiKey,
    user: { id: userId, name: v[12], role: v[13], credits: v[14], created_at: v[15], updated_at: v[16] } as User,
  };
}

/**
 * The active key with this hash, and its user (credit balance included), in one query: every
 * authenticated request makes it. On the embedded database it runs on its own prepared statement,
 * synchronously, its answer kept only while nothing is committed to the database (statement-cache.ts);
 * inside a transaction and on Postgres through Kysely, every time. Either way a revoked key fails at
 * its next request, wherever it was revoked.
 */
export async function findActiveKeyByHash(ex: Executor, hash: string): Promise<{ key: ApiKey; user: User } | undefined> {
  let query = compiled.get(ex);
  if (!query) {
    query = activeKeyByHash(ex, hash).compile();
    compiled.set(ex, query);
  }
  const direct = directReads(ex)?.values(query.sql, [hash]);
  if (direct) return direct.values && fromValues(direct.values);
  const row = (await ex.executeQuery<KeyRow>({ ...query, parameters: [hash] })).rows[0];
  if (!row) return undefined;
  const { user_id, user_name, user_role, user_credits, user_created_at, user_updated_at, ...key } = row;
  return {
    key: { ...key, user_id },
    user: { id: user_id, name: user_name, role: user_role, credits: user_credits, created_at: user_created_at, updated_at: user_updated_at },
  };
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
