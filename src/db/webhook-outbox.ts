/** The webhook outbox: one row per webhook owed, written with the job's end, sent and retried by an API process. */
import { randomUUID } from 'node:crypto';
import type { Executor } from './database.ts';
import type { Selectable } from 'kysely';
import type { WebhookOutboxTable } from './schema.ts';

export type OutboxRow = Selectable<WebhookOutboxTable>;

/** Owes a webhook for this generation when the key that made it carries a callback URL. */
export async function queueIfHooked(ex: Executor, generationId: string, apiKeyId: string | null, now: string): Promise<void> {
  if (!apiKeyId) return;
  const key = await ex.selectFrom('api_keys').select('webhook_url').where('id', '=', apiKeyId).executeTakeFirst();
  if (!key?.webhook_url) return;
  await ex.insertInto('webhook_outbox').values({ id: randomUUID(), generation_id: generationId, next_attempt_at: now, created_at: now }).execute();
}

export function due(ex: Executor, now: string, limit: number): Promise<OutboxRow[]> {
  return ex
    .selectFrom('webhook_outbox')
    .selectAll()
    .where('delivered_at', 'is', null)
    .where('gave_up_at', 'is', null)
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
}

/** Takes a due row for one attempt (pushing its next attempt to `until`); false when another process took it. */
export async function take(ex: Executor, row: OutboxRow, until: string): Promise<boolean> {
  const r = await ex
    .updateTable('webhook_outbox')
    .set({ next_attempt_at: until, attempts: row.attempts + 1 })
    .where('id', '=', row.id)
    .where('attempts', '=', row.attempts)
    .where('delivered_at', 'is', null)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function settle(ex: Executor, id: string, patch: { delivered_at?: string; gave_up_at?: string; next_attempt_at?: string; last_error?: string | null }): Promise<void> {
  await ex.updateTable('webhook_outbox').set(patch).where('id', '=', id).execute();
}
