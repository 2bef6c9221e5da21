/** Usage history: every generation and upscale of a user, what it cost, newest first. */
import type { Database } from '../db/database.ts';
import { listOperations, type OperationRow } from '../db/operations.ts';

export type { OperationRow };

export class Usage {
  constructor(private readonly db: Database) {}

  async operations(userId: string, perPage: number, cursor?: string): Promise<{ rows: OperationRow[]; next?: string }> {
    const rows = await listOperations(this.db.kysely, userId, perPage, cursor);
    return { rows, next: rows.length === perPage ? rows.at(-1)!.created_at : undefined };
  }
}
