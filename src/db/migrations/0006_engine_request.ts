/**
 * Generations keep the engine's request as the engine takes it (settings.request) instead of the
 * dialect-side spec (settings.spec): rows written before are rewritten in that shape, so a job queued
 * before an upgrade still runs and finished ones still price and answer the same.
 */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's schema types
type AnyDb = Kysely<any>;

type Old = { spec?: Record<string, unknown> } & Record<string, unknown>;

const PAGE = 500;

export async function up(db: AnyDb): Promise<void> {
  for (let after = ''; ; ) {
    const rows: { id: string; settings: string }[] = await db.selectFrom('generations').select(['id', 'settings']).where('id', '>', after).orderBy('id').limit(PAGE).execute();
    if (!rows.length) return;
    for (const row of rows) {
      const settings = JSON.parse(row.settings) as Old;
      if (!settings.spec) continue;
      const { spec, ...rest } = settings;
      const { model: _model, initImageUrl, maskUrl, tariff, strength, maskSource, ...request } = spec;
      const rewritten = {
        ...rest,
        request: { ...request, ...(initImageUrl !== undefined ? { strength } : {}), ...(maskUrl !== undefined ? { maskSource: maskSource ?? 'luminance' } : {}) },
        ...(tariff ? { tariff } : {}),
      };
      await db.updateTable('generations').set({ settings: JSON.stringify(rewritten) }).where('id', '=', row.id).execute();
    }
    after = rows.at(-1)!.id;
  }
}

export async function down(): Promise<void> {
  // The new shape holds everything the old one did but the model (a column) and the image URLs (a column, and the store keys).
}
