/** Usage history: every generation and upscale of a user, what it cost, which dialect made it and its prompt, newest first. */
import type { Database } from '../db/database.ts';
import { listOperations, type OperationRow } from '../db/operations.ts';
import type { StoredSettings } from './generations.ts';

export interface Operation extends Omit<OperationRow, 'settings'> {
  /** The API dialect that made it (stablecog, stability, leonardo, openai...). */
  dialect: string;
}

/** Upscales are made through Stablecog's routes only, and generations stored without a dialect are Stablecog's. */
const DEFAULT_DIALECT = 'stablecog';

export class Usage {
  constructor(private readonly db: Database) {}

  async operations(userId: string, perPage: number, cursor?: string): Promise<{ rows: Operation[]; next?: string }> {
    const rows = await listOperations(this.db.kysely, userId, perPage, cursor);
    return {
      rows: rows.map(({ settings, ...r }) => ({ ...r, dialect: (settings ? (JSON.parse(settings) as StoredSettings).dialect : undefined) ?? DEFAULT_DIALECT })),
      next: rows.length === perPage ? rows.at(-1)!.created_at : undefined,
    };
  }
}
