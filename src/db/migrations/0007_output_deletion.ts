/**
 * One output can be deleted by its owner (DELETE /v1/image/generation/outputs/{id}): its images
 * leave the store and the row is kept, marked, so it leaves every listing while the output-cursor
 * timestamps (which read every row of the user) never go back.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generation_outputs').addColumn('deleted_at', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generation_outputs').dropColumn('deleted_at').execute();
}
