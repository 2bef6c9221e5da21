/**
 * The orphan sweep: stored objects that no database row names are what a refused, failed or
 * crashed request left behind (an output written just before a kill -9, a fetched init image of a
 * request refused later, a half-written file). Objects younger than the grace period are kept, so
 * the freshly stored images of a job that is still running (or an upload between its row and its
 * object) are never taken; at the start of the embedded server, before its worker and its HTTP port,
 * nothing can be in flight and the grace period can be 0.
 *
 * A store belongs to one database: the first sweep writes the database's id into the store
 * (STORE_OWNER_KEY), and a sweep refuses a store that names another database, rather than take a
 * second deployment's images for orphans.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { keysNamedInColumns, keysNamedInSettings } from '../db/object-refs.ts';
import { getSetting, setSettingOnce } from '../db/uploads.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/** Where requests and jobs write: outputs, upscaled outputs, uploads, fetched init images. */
export const SWEPT_PREFIXES = ['outputs/', 'upscaled/', 'uploads/', 'inits/'] as const;
/** How old an unnamed object must be before a periodic sweep deletes it. */
export const DEFAULT_ORPHAN_GRACE_MS = 60 * 60 * 1000;
/** The object that names the database a store belongs to. */
export const STORE_OWNER_KEY = 'darkroom-store-owner.txt';
const OWNER_SETTING = 'store_owner_id';
const BATCH = 500;

export interface SweepOptions {
  /** Objects modified less than this long ago are kept (default an hour). */
  graceMs?: number;
  /** Defaults to SWEPT_PREFIXES. */
  prefixes?: readonly string[];
  now?: () => number;
  log?: (message: string) => void;
}

export interface SweepResult {
  /** Objects listed under the prefixes. */
  scanned: number;
  /** Keys deleted (no row named them and they were older than the grace period). */
  deleted: string[];
  /** Set when the sweep did nothing, and why. */
  refused?: string;
}

/** Deletes the objects under `prefixes` that no row names and that are older than the grace period. */
export async function sweepOrphans(db: Database, store: ObjectStore, options: SweepOptions = {}): Promise<SweepResult> {
  const graceMs = options.graceMs ?? DEFAULT_ORPHAN_GRACE_MS;
  const now = options.now ?? Date.now;
  const result: SweepResult = { scanned: 0, deleted: [] };
  const refused = await claimStore(db, store);
  if (refused) {
    options.log?.(`orphan sweep skipped: ${refused}`);
    return { ...result, refused };
  }
  const cutoff = now() - graceMs;
  let inSettings: Set<string> | undefined;
  const sweepBatch = async (keys: string[]) => {
    const named = await keysNamedInColumns(db.kysely, keys);
    let unnamed = keys.filter((k) => !named.has(k));
    if (unnamed.length) {
      inSettings ??= await keysNamedInSettings(db.kysely);
      unnamed = unnamed.filter((k) => !inSettings!.has(k));
    }
    for (const key of unnamed) {
      await store.delete(key);
      result.deleted.push(key);
    }
  };
  for (const prefix of options.prefixes ?? SWEPT_PREFIXES) {
    let batch: string[] = [];
    for await (const o of store.list(prefix)) {
      result.scanned++;
      if (o.lastModified.getTime() > cutoff) continue;
      batch.push(o.key);
      if (batch.length >= BATCH) {
        await sweepBatch(batch);
        batch = [];
      }
    }
    await sweepBatch(batch);
  }
  if (result.deleted.length) options.log?.(`orphan sweep: deleted ${result.deleted.length} stored object(s) no record names (of ${result.scanned})`);
  return result;
}

/** Undefined when this database owns the store (claiming it when nobody has); else why not. */
async function claimStore(db: Database, store: ObjectStore): Promise<string | undefined> {
  const id = (await getSetting(db.kysely, OWNER_SETTING)) ?? (await setSettingOnce(db.kysely, OWNER_SETTING, randomUUID()));
  const marker = await store.get(STORE_OWNER_KEY);
  if (!marker) {
    await store.put(STORE_OWNER_KEY, new TextEncoder().encode(id), 'text/plain');
    return undefined;
  }
  const owner = new TextDecoder().decode(marker.bytes).trim();
  if (owner === id) return undefined;
  return `the store belongs to another Darkroom database (${STORE_OWNER_KEY} names ${owner.slice(0, 64)}, this database is ${id}); remove that object if the store is really this database's`;
}

/**
 * Sweeps every `intervalMs` (for long-running processes; the first run after one interval).
 * Returns a stop function. Errors are logged, never thrown.
 */
export function sweepPeriodically(db: Database, store: ObjectStore, intervalMs: number, options: SweepOptions = {}): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepOrphans(db, store, options)
      .catch((err: unknown) => options.log?.(`orphan sweep failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
