/** A user's operations (generations and upscales), newest first, for usage history. */
import type { Executor } from './database.ts';

export interface OperationRow {
  id: string;
  type: 'generate' | 'upscale';
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  num_outputs: number;
  cost: number;
  /** Credits refunded to this operation. */
  refunded: number;
  source: string;
  api_key_id: string | null;
  /** A generation's prompt; null for an upscale. */
  prompt: string | null;
  /** A generation's stored settings (JSON); null for an upscale. */
  settings: string | null;
}

export async function listOperations(ex: Executor, userId: string, perPage: number, cursor?: string): Promise<OperationRow[]> {
  let g = ex
    .selectFrom('generations')
    .select(['id', 'status', 'created_at', 'started_at', 'completed_at', 'num_outputs', 'cost', 'source', 'api_key_id', 'prompt', 'settings'])
    .where('user_id', '=', userId);
  let u = ex
    .selectFrom('upscales')
    .select(['id', 'status', 'created_at', 'started_at', 'completed_at', 'cost', 'source', 'api_key_id'])
    .where('user_id', '=', userId);
  if (cursor) {
    g = g.where('created_at', '<', cursor);
    u = u.where('created_at', '<', cursor);
  }
  const [gens, ups] = await Promise.all([
    g.orderBy('created_at', 'desc').limit(perPage).execute(),
    u.orderBy('created_at', 'desc').limit(perPage).execute(),
  ]);
  const rows: OperationRow[] = [
    ...gens.map((r) => ({ ...r, type: 'generate' as const, cost: Number(r.cost), refunded: 0 })),
    ...ups.map((r) => ({ ...r, type: 'upscale' as const, num_outputs: 1, cost: Number(r.cost), refunded: 0, prompt: null, settings: null })),
  ]
    .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
    .slice(0, perPage);
  const genIds = rows.filter((r) => r.type === 'generate').map((r) => r.id);
  const upIds = rows.filter((r) => r.type === 'upscale').map((r) => r.id);
  const refunds = new Map<string, number>();
  if (genIds.length) {
    const rs = await ex
      .selectFrom('credit_ledger')
      .select(['generation_id as ref', (eb) => eb.fn.sum<number>('delta').as('total')])
      .where('reason', '=', 'refund')
      .where('generation_id', 'in', genIds)
      .groupBy('generation_id')
      .execute();
    for (const r of rs) refunds.set(r.ref!, Number(r.total));
  }
  if (upIds.length) {
    const rs = await ex
      .selectFrom('credit_ledger')
      .select(['upscale_id as ref', (eb) => eb.fn.sum<number>('delta').as('total')])
      .where('reason', '=', 'refund')
      .where('upscale_id', 'in', upIds)
      .groupBy('upscale_id')
      .execute();
    for (const r of rs) refunds.set(r.ref!, Number(r.total));
  }
  for (const r of rows) r.refunded = refunds.get(r.id) ?? 0;
  return rows;
}
