/**
 * A variation that is a generation (Leonardo's unzoom and universal upscaler) is a generation job
 * like any other, linked to the output it was made from: variation_of names that output,
 * transform_type says which variation it is. Indexed, as a generation's answer lists each output's variations.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generations').addColumn('variation_of', 'text').execute();
  await db.schema.alterTable('generations').addColumn('transform_type', 'text').execute();
  await db.schema.createIndex('generations_variation_of').on('generations').column('variation_of').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('generations_variation_of').execute();
  await db.schema.alterTable('generations').dropColumn('transform_type').execute();
  await db.schema.alterTable('generations').dropColumn('variation_of').execute();
}
