/**
 * Which object keys the database names: the orphan sweep deletes a stored object only when no row
 * names it. Every table that keeps an object key belongs here.
 */
import type { Executor } from './database.ts';

/** Keys of the store's objects inside settings JSON (generations' init image and mask keys). */
const KEY_IN_TEXT = /(?:outputs|upscaled|uploads|inits)\/[A-Za-z0-9_.\/-]+/g;

/** Those of `keys` that some row names in a key column (outputs, upscales, uploads). */
export async function keysNamedInColumns(ex: Executor, keys: readonly string[]): Promise<Set<string>> {
  const named = new Set<string>();
  if (!keys.length) return named;
  const list = [...keys];
  const found = await Promise.all([
    ex.selectFrom('generation_outputs').select('image_key as k').where('image_key', 'in', list).execute(),
    ex.selectFrom('generation_outputs').select('upscaled_image_key as k').where('upscaled_image_key', 'in', list).execute(),
    ex.selectFrom('upscales').select('source_key as k').where('source_key', 'in', list).execute(),
    ex.selectFrom('upscales').select('image_key as k').where('image_key', 'in', list).execute(),
    ex.selectFrom('uploads').select('object_key as k').where('object_key', 'in', list).execute(),
  ]);
  for (const rows of found) for (const r of rows) if (r.k) named.add(r.k);
  return named;
}

/** Every object key written inside a generation's settings (its init image and mask, when they were fetched). */
export async function keysNamedInSettings(ex: Executor): Promise<Set<string>> {
  const rows = await ex
    .selectFrom('generations')
    .select('settings')
    .where((eb) => eb.or(['inits/', 'uploads/', 'outputs/', 'upscaled/'].map((p) => eb('settings', 'like', `%${p}%`))))
    .execute();
  const named = new Set<string>();
  for (const r of rows) for (const m of r.settings.matchAll(KEY_IN_TEXT)) named.add(m[0]);
  return named;
}
