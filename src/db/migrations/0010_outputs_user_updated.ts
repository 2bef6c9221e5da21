/**
 * Each generation asks for the latest updated_at among its user's outputs (`nextOutputTimes`), which
 * without this index reads every output of the user: linear in their outputs, per generation.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.createIndex('outputs_user_updated').on('generation_outputs').columns(['user_id', 'updated_at']).execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('outputs_user_updated').execute();
}
