/**
 * The job lifecycle in the database, so it holds across processes: each generation and upscale
 * carries its attempt count, the lease its worker renews while it runs, the deadline after which it
 * is failed and refunded, and the request id that follows it into the worker. Webhooks leave through
 * an outbox, written in the same transaction as the job's end and sent by the API side.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

const JOB_TABLES = ['generations', 'upscales'] as const;

export async function up(db: AnyDb): Promise<void> {
  for (const table of JOB_TABLES) {
    // One column per statement: SQLite's ALTER TABLE adds one at a time.
    await db.schema.alterTable(table).addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable(table).addColumn('lease_until', 'text').execute();
    await db.schema.alterTable(table).addColumn('deadline_at', 'text').execute();
    await db.schema.alterTable(table).addColumn('request_id', 'text').execute();
    await db.schema.createIndex(`${table}_user_status`).on(table).columns(['user_id', 'status']).execute();
  }
  // generations_status exists since 0001; the reaper reads upscales by status too.
  await db.schema.createIndex('upscales_status').on('upscales').column('status').execute();
  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('generation_id', 'text', (c) => c.notNull().references('generations.id'))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .addColumn('gave_up_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_outbox_due').on('webhook_outbox').columns(['delivered_at', 'gave_up_at', 'next_attempt_at']).execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('webhook_outbox').execute();
  await db.schema.dropIndex('upscales_status').execute();
  for (const table of JOB_TABLES) {
    await db.schema.dropIndex(`${table}_user_status`).execute();
    for (const column of ['request_id', 'deadline_at', 'lease_until', 'attempts']) await db.schema.alterTable(table).dropColumn(column).execute();
  }
}
