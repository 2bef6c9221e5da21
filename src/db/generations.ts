/** Queries on generations and their outputs. */
import { sql } from 'kysely';
import type { Executor } from './database.ts';
import { nextMicrosecond, timestamp } from './clock.ts';
import { lockUser } from './users.ts';
import type { Generation, GenerationOutput, GenerationUpdate, JobStatus, NewGeneration, NewGenerationOutput } from './schema.ts';

export async function insertGeneration(ex: Executor, row: NewGeneration): Promise<Generation> {
  return ex.insertInto('generations').values(row).returningAll().executeTakeFirstOrThrow();
}

export function getGeneration(ex: Executor, id: string): Promise<Generation | undefined> {
  return ex.selectFrom('generations').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Moves a generation on only from one of the `from` statuses, so a late worker result after a
 * timeout (or a second completion) changes nothing. Returns whether it moved.
 */
export async function updateGenerationIf(ex: Executor, id: string, from: readonly JobStatus[], patch: GenerationUpdate): Promise<boolean> {
  const r = await ex.updateTable('generations').set(patch).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export function unfinishedGenerations(ex: Executor): Promise<Generation[]> {
  return ex.selectFrom('generations').selectAll().where('status', 'in', ['queued', 'running']).orderBy('created_at').execute();
}

export async function insertOutputs(ex: Executor, rows: NewGenerationOutput[]): Promise<void> {
  if (rows.length) await ex.insertInto('generation_outputs').values(rows).execute();
}

/** A generation's outputs (those not deleted), in batch order. */
export function outputsOf(ex: Executor, generationId: string): Promise<GenerationOutput[]> {
  return ex.selectFrom('generation_outputs').selectAll().where('generation_id', '=', generationId).where('deleted_at', 'is', null).orderBy('idx').execute();
}

/** An output not deleted, or undefined. */
export function getOutput(ex: Executor, id: string): Promise<GenerationOutput | undefined> {
  return ex.selectFrom('generation_outputs').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

/** Marks one of the user's outputs deleted: the row as it was, or undefined when there is no such output of theirs (or it is deleted already). */
export function markOutputDeleted(ex: Executor, userId: string, id: string, at: string): Promise<GenerationOutput | undefined> {
  return ex
    .updateTable('generation_outputs')
    .set({ deleted_at: at })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * `n` timestamps for a user's outputs, strictly after every created_at and updated_at of theirs, so
 * the outputs listing's cursor (a timestamp, as Stablecog's) never ties or goes back, whichever process
 * or clock writes. Locks the user's row: writers of one user's outputs take turns.
 */
export async function nextOutputTimes(ex: Executor, userId: string, n: number): Promise<string[]> {
  await lockUser(ex, userId);
  // One max() per query: each is then one step down its (user_id, ...) index; both in one query,
  // SQLite scans every output of the user.
  const latestOf = async (column: 'created_at' | 'updated_at') =>
    (await ex.selectFrom('generation_outputs').select((eb) => eb.fn.max(column).as('t')).where('user_id', '=', userId).executeTakeFirst())?.t;
  let t = timestamp();
  for (const latest of [await latestOf('created_at'), await latestOf('updated_at')]) if (latest && latest >= t) t = nextMicrosecond(latest);
  const out: string[] = [];
  for (let i = 0; i < n; i++, t = nextMicrosecond(t)) out.push(t);
  return out;
}

export async function setOutputUpscaled(ex: Executor, id: string, key: string, at: string): Promise<void> {
  await ex.updateTable('generation_outputs').set({ upscaled_image_key: key, updated_at: at }).where('id', '=', id).execute();
}

export interface OutputQuery {
  userId: string;
  perPage: number;
  /** Items strictly after this created_at/updated_at value in the chosen order. */
  cursor?: string;
  order: 'asc' | 'desc';
  orderBy: 'created_at' | 'updated_at';
  /** Part of the prompt, any case; `%` and `_` match themselves. */
  search?: string;
  models?: string[];
  schedulers?: string[];
  minWidth?: number;
  maxWidth?: number;
  minHeight?: number;
  maxHeight?: number;
  widths?: number[];
  heights?: number[];
  minSteps?: number;
  maxSteps?: number;
  steps?: number[];
  minGuidance?: number;
  maxGuidance?: number;
  guidances?: number[];
  /** Whether to leave out the outputs the safety checker flagged. */
  withoutNsfw?: boolean;
  upscaled?: 'any' | 'only' | 'not';
  start?: string;
  end?: string;
}

export type OutputWithGeneration = GenerationOutput & { generation: Generation };

/** A LIKE pattern (escape character `\`) matching any text that contains `text` as it is. */
function likeContaining(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filtered(ex: Executor, q: OutputQuery) {
  let s = ex
    .selectFrom('generation_outputs as o')
    .innerJoin('generations as g', 'g.id', 'o.generation_id')
    .where('o.user_id', '=', q.userId)
    .where('o.deleted_at', 'is', null)
    .where('g.deleted_at', 'is', null);
  // lower() on both sides: SQLite's folds ASCII only, Postgres's all of Unicode; either way the two sides fold alike.
  if (q.search) s = s.where(sql<boolean>`lower(${sql.ref('g.prompt')}) like lower(${likeContaining(q.search)}) escape '\\'`);
  if (q.models?.length) s = s.where('g.model', 'in', q.models);
  if (q.schedulers?.length) s = s.where('g.scheduler', 'in', q.schedulers);
  if (q.minWidth !== undefined) s = s.where('g.width', '>=', q.minWidth);
  if (q.maxWidth !== undefined) s = s.where('g.width', '<=', q.maxWidth);
  if (q.minHeight !== undefined) s = s.where('g.height', '>=', q.minHeight);
  if (q.maxHeight !== undefined) s = s.where('g.height', '<=', q.maxHeight);
  if (q.widths?.length) s = s.where('g.width', 'in', q.widths);
  if (q.heights?.length) s = s.where('g.height', 'in', q.heights);
  if (q.minSteps !== undefined) s = s.where('g.steps', '>=', q.minSteps);
  if (q.maxSteps !== undefined) s = s.where('g.steps', '<=', q.maxSteps);
  if (q.steps?.length) s = s.where('g.steps', 'in', q.steps);
  if (q.minGuidance !== undefined) s = s.where('g.guidance', '>=', q.minGuidance);
  if (q.maxGuidance !== undefined) s = s.where('g.guidance', '<=', q.maxGuidance);
  if (q.guidances?.length) s = s.where('g.guidance', 'in', q.guidances);
  if (q.withoutNsfw) s = s.where('o.nsfw', '=', 0);
  if (q.upscaled === 'only') s = s.where('o.upscaled_image_key', 'is not', null);
  if (q.upscaled === 'not') s = s.where('o.upscaled_image_key', 'is', null);
  if (q.start) s = s.where('o.created_at', '>=', q.start);
  if (q.end) s = s.where('o.created_at', '<=', q.end);
  return s;
}

/** One page of a user's outputs, newest first by default; `total` only when asked (the first page). */
export async function queryOutputs(ex: Executor, q: OutputQuery, withTotal: boolean): Promise<{ rows: OutputWithGeneration[]; total?: number }> {
  const col = q.orderBy === 'updated_at' ? 'o.updated_at' : 'o.created_at';
  let s = filtered(ex, q);
  if (q.cursor) s = s.where(col, q.order === 'desc' ? '<' : '>', q.cursor);
  const rows = await s.selectAll('o').orderBy(col, q.order).orderBy('o.id', q.order).limit(q.perPage).execute();
  const ids = [...new Set(rows.map((o) => o.generation_id))];
  const generations = ids.length ? await ex.selectFrom('generations').selectAll().where('id', 'in', ids).execute() : [];
  const byId = new Map(generations.map((g) => [g.id, g]));
  const out: OutputWithGeneration[] = rows.map((o) => ({ ...o, generation: byId.get(o.generation_id)! }));
  if (!withTotal) return { rows: out };
  const t = await filtered(ex, q).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return { rows: out, total: Number(t.n) };
}

export async function findUpscaleOfOutput(ex: Executor, outputId: string) {
  return ex
    .selectFrom('upscales')
    .selectAll()
    .where('output_id', '=', outputId)
    .where('status', '=', 'succeeded')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
}

export function findOutputByImageKey(ex: Executor, key: string): Promise<GenerationOutput | undefined> {
  return ex
    .selectFrom('generation_outputs')
    .selectAll()
    .where((eb) => eb.or([eb('image_key', '=', key), eb('upscaled_image_key', '=', key)]))
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** A user's generations (not deleted; variations are listed with the image they were made from), newest first, by offset. */
export function listGenerations(ex: Executor, userId: string, offset: number, limit: number): Promise<Generation[]> {
  return ex
    .selectFrom('generations')
    .selectAll()
    .where('user_id', '=', userId)
    .where('deleted_at', 'is', null)
    .where('variation_of', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .offset(offset)
    .limit(limit)
    .execute();
}

/** The variations (generations, not deleted) made from these outputs, newest first. */
export function variationsOfOutputs(ex: Executor, outputIds: readonly string[]): Promise<Generation[]> {
  if (!outputIds.length) return Promise.resolve([]);
  return ex.selectFrom('generations').selectAll().where('variation_of', 'in', outputIds).where('deleted_at', 'is', null).orderBy('created_at', 'desc').execute();
}

/** The outputs (those not deleted) of several generations, in batch order. */
export function outputsOfMany(ex: Executor, generationIds: readonly string[]): Promise<GenerationOutput[]> {
  if (!generationIds.length) return Promise.resolve([]);
  return ex
    .selectFrom('generation_outputs')
    .selectAll()
    .where('generation_id', 'in', generationIds)
    .where('deleted_at', 'is', null)
    .orderBy('generation_id')
    .orderBy('idx')
    .execute();
}

/** Marks a generation deleted; false when it was already deleted (or does not exist). */
export async function markGenerationDeleted(ex: Executor, id: string, at: string): Promise<boolean> {
  const r = await ex.updateTable('generations').set({ deleted_at: at }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}
