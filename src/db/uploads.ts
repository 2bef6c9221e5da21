/** Queries on uploaded init images, upscales, and server-wide settings. */
import type { Executor } from './database.ts';
import type { JobStatus, NewUpscale, Upload, Upscale } from './schema.ts';

export async function insertUpload(ex: Executor, row: Upload): Promise<void> {
  await ex.insertInto('uploads').values(row).execute();
}

export function findUploadByKey(ex: Executor, objectKey: string): Promise<Upload | undefined> {
  return ex.selectFrom('uploads').selectAll().where('object_key', '=', objectKey).executeTakeFirst();
}

export function findUploadById(ex: Executor, id: string): Promise<Upload | undefined> {
  return ex.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteUpload(ex: Executor, id: string): Promise<boolean> {
  const r = await ex.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
  return r.numDeletedRows > 0n;
}

export async function insertUpscale(ex: Executor, row: NewUpscale): Promise<Upscale> {
  return ex.insertInto('upscales').values(row).returningAll().executeTakeFirstOrThrow();
}

export function getUpscale(ex: Executor, id: string): Promise<Upscale | undefined> {
  return ex.selectFrom('upscales').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateUpscaleIf(
  ex: Executor,
  id: string,
  from: readonly JobStatus[],
  patch: Partial<Pick<Upscale, 'status' | 'image_key' | 'width' | 'height' | 'error' | 'started_at' | 'completed_at'>>,
): Promise<boolean> {
  const r = await ex.updateTable('upscales').set(patch).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export function unfinishedUpscales(ex: Executor): Promise<Upscale[]> {
  return ex.selectFrom('upscales').selectAll().where('status', 'in', ['queued', 'running']).execute();
}

export async function getSetting(ex: Executor, key: string): Promise<string | undefined> {
  return (await ex.selectFrom('server_settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
}

/** Sets key to value unless it is already set; returns the value that holds (first writer wins). */
export async function setSettingOnce(ex: Executor, key: string, value: string): Promise<string> {
  await ex
    .insertInto('server_settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  return (await getSetting(ex, key))!;
}

export function findUpscaleByImageKey(ex: Executor, key: string): Promise<Upscale | undefined> {
  return ex.selectFrom('upscales').selectAll().where('image_key', '=', key).executeTakeFirst();
}

/** The upscales of these outputs, newest first. */
export function upscalesOfOutputs(ex: Executor, outputIds: readonly string[]): Promise<Upscale[]> {
  if (outputIds.length === 0) return Promise.resolve([]);
  return ex.selectFrom('upscales').selectAll().where('output_id', 'in', outputIds).orderBy('created_at', 'desc').execute();
}
