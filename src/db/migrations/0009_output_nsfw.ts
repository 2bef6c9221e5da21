/**
 * An output the model folder's safety checker flagged (the engine blacked it out) is marked, so each
 * dialect reports it its own way (Stablecog leaves it out, Stability's CONTENT_FILTERED, OpenAI's
 * content_policy_violation, Leonardo's per-image nsfw). 0/1, as every boolean here; older outputs were never checked.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generation_outputs').addColumn('nsfw', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generation_outputs').dropColumn('nsfw').execute();
}
