/**
 * What the Stability, Leonardo and OpenAI dialects add: a webhook callback per API key (Leonardo
 * configures callbacks per key), and soft deletion of generations (Leonardo's DELETE /generations/{id}:
 * the generation leaves every listing, its images leave the store, its ledger rows stay).
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('api_keys').addColumn('webhook_url', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('webhook_api_key', 'text').execute();
  await db.schema.alterTable('generations').addColumn('deleted_at', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('generations').dropColumn('deleted_at').execute();
  await db.schema.alterTable('api_keys').dropColumn('webhook_api_key').execute();
  await db.schema.alterTable('api_keys').dropColumn('webhook_url').execute();
}
