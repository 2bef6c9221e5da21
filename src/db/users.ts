/** Queries on users. */
import type { Executor } from './database.ts';
import type { Role, User } from './schema.ts';
import { timestamp } from './clock.ts';

export async function insertUser(ex: Executor, user: { id: string; name: string; role: Role }): Promise<User> {
  const now = timestamp();
  return ex
    .insertInto('users')
    .values({ ...user, credits: 0, created_at: now, updated_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findUserByName(ex: Executor, name: string): Promise<User | undefined> {
  return ex.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
}

export function findUserById(ex: Executor, id: string): Promise<User | undefined> {
  return ex.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countUsers(ex: Executor, role?: Role): Promise<number> {
  let q = ex.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'));
  if (role) q = q.where('role', '=', role);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export function listUsers(ex: Executor): Promise<User[]> {
  return ex.selectFrom('users').selectAll().orderBy('created_at').execute();
}

/**
 * Takes the user's row lock for the rest of the transaction (a no-op write: a row lock on Postgres,
 * the database write lock on SQLite), so check-then-insert sequences per user serialize.
 */
export async function lockUser(ex: Executor, id: string): Promise<boolean> {
  const r = await ex.updateTable('users').set({ updated_at: timestamp() }).where('id', '=', id).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}
