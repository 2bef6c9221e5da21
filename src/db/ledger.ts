/**
 * The credit ledger: every debit and refund is a row; users.credits caches the sum and is updated
 * in the same transaction. The debit is one conditional UPDATE (`credits >= amount`), which is at
 * once the check and the lock: Postgres takes the user's row lock and re-checks the condition after
 * any concurrent debit commits; SQLite takes the database write lock. With the CHECK (credits >= 0)
 * on the column as a last line, the balance cannot go negative under concurrent requests.
 */
import { randomUUID } from 'node:crypto';
import type { Executor } from './database.ts';
import type { LedgerEntry, LedgerReason } from './schema.ts';
import { timestamp } from './clock.ts';

export interface LedgerRefs {
  generation_id?: string | null;
  upscale_id?: string | null;
  api_key_id?: string | null;
  note?: string | null;
}

async function addRow(ex: Executor, userId: string, delta: number, reason: LedgerReason, refs: LedgerRefs): Promise<void> {
  await ex
    .insertInto('credit_ledger')
    .values({
      id: randomUUID(),
      user_id: userId,
      delta,
      reason,
      generation_id: refs.generation_id ?? null,
      upscale_id: refs.upscale_id ?? null,
      api_key_id: refs.api_key_id ?? null,
      note: refs.note ?? null,
      created_at: timestamp(),
    })
    .execute();
}

/**
 * Takes `amount` credits if the balance covers it. Returns the new balance, or null (and changes
 * nothing) when it does not. Call inside a transaction so the ledger row and the cache move together.
 */
export async function debit(ex: Executor, userId: string, amount: number, reason: LedgerReason, refs: LedgerRefs = {}): Promise<number | null> {
  if (!Number.isInteger(amount) || amount < 0) throw new Error(`debit amount must be a non-negative integer, got ${amount}`);
  const row = await ex
    .updateTable('users')
    .set((eb) => ({ credits: eb('credits', '-', amount), updated_at: timestamp() }))
    .where('id', '=', userId)
    .where('credits', '>=', amount)
    .returning('credits')
    .executeTakeFirst();
  if (!row) return null;
  if (amount > 0) await addRow(ex, userId, -amount, reason, refs);
  return Number(row.credits);
}

/** Adds credits (a grant or a refund). Returns the new balance. */
export async function credit(ex: Executor, userId: string, amount: number, reason: LedgerReason, refs: LedgerRefs = {}): Promise<number> {
  if (!Number.isInteger(amount) || amount < 0) throw new Error(`credit amount must be a non-negative integer, got ${amount}`);
  const row = await ex
    .updateTable('users')
    .set((eb) => ({ credits: eb('credits', '+', amount), updated_at: timestamp() }))
    .where('id', '=', userId)
    .returning('credits')
    .executeTakeFirst();
  if (!row) throw new Error(`no user with id ${userId}`);
  if (amount > 0) await addRow(ex, userId, amount, reason, refs);
  return Number(row.credits);
}

export async function balance(ex: Executor, userId: string): Promise<number> {
  const row = await ex.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirst();
  return row ? Number(row.credits) : 0;
}

/** SUM(delta) straight from the ledger: what the cached balance must always equal. */
export async function ledgerSum(ex: Executor, userId: string): Promise<number> {
  const row = await ex
    .selectFrom('credit_ledger')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('delta'), eb.lit(0)).as('total'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.total);
}

export function ledgerEntries(ex: Executor, userId: string): Promise<LedgerEntry[]> {
  return ex.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
}

/** Sum of the refunds already made for a generation (so a refund is never paid twice). */
export async function refundedFor(ex: Executor, ref: { generation_id?: string; upscale_id?: string }): Promise<number> {
  let q = ex
    .selectFrom('credit_ledger')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('delta'), eb.lit(0)).as('total'))
    .where('reason', '=', 'refund');
  if (ref.generation_id) q = q.where('generation_id', '=', ref.generation_id);
  if (ref.upscale_id) q = q.where('upscale_id', '=', ref.upscale_id);
  return Number((await q.executeTakeFirstOrThrow()).total);
}
