/** Reading a user's outputs (the gallery of their own images), with filters and cursor pagination. */
import type { Database } from '../db/database.ts';
import * as gens from '../db/generations.ts';
import type { OutputQuery, OutputWithGeneration } from '../db/generations.ts';
import type { GenerationOutput } from '../db/schema.ts';

export type { OutputQuery, OutputWithGeneration };

export class Outputs {
  constructor(private readonly db: Database) {}

  /** One page; `next` is the cursor of the following page (absent on the last), `total` only on the first. */
  async query(q: OutputQuery): Promise<{ rows: OutputWithGeneration[]; total?: number; next?: string }> {
    const { rows, total } = await gens.queryOutputs(this.db.kysely, q, q.cursor === undefined);
    const last = rows.at(-1);
    const next = rows.length === q.perPage && last ? (q.orderBy === 'updated_at' ? last.updated_at : last.created_at) : undefined;
    return { rows, total, next };
  }

  /** Every output of each generation (in batch order), keyed by generation id: the siblings of a page's outputs. */
  async ofGenerations(generationIds: readonly string[]): Promise<Map<string, GenerationOutput[]>> {
    const byGeneration = new Map<string, GenerationOutput[]>();
    for (const o of await gens.outputsOfMany(this.db.kysely, [...new Set(generationIds)])) {
      const list = byGeneration.get(o.generation_id) ?? [];
      list.push(o);
      byGeneration.set(o.generation_id, list);
    }
    return byGeneration;
  }
}
