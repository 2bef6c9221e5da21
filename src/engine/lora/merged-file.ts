/**
 * A model file with LoRA adapters merged in, cached next to it as `model.lora-<set>.onnx` (derived-file.ts)
 * where `<set>` hashes the adapters (file, size, date) and their weights, so the fused and float16
 * steps chain from it (`model.lora-<set>.optimized.fp16.onnx`). The merged twins of one file are kept
 * to a bound: making one beyond it removes the least recently used set with everything derived from it.
 */
import { createHash } from 'node:crypto';
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { derivedModelFile } from '../models/derived-file.ts';
import { mergeAdapters, type WeightedAdapter } from './merge.ts';

/** Merged sets kept per model file: a few styles in turn stay cached, the disk use stays bounded. */
export const MAX_MERGED_SETS = 4;

/** The part of a twin's name that says which adapters at which weights it holds. */
export function loraSetTag(adapters: readonly { adapter: { path: string; bytes: number; mtimeMs: number }; weight: number }[]): string {
  const h = createHash('sha256');
  for (const a of adapters) h.update(`${a.adapter.path}\0${a.adapter.bytes}\0${a.adapter.mtimeMs}\0${a.weight}\n`);
  return `lora-${h.digest('hex').slice(0, 16)}`;
}

const TWIN = /^(.+)\.(lora-[0-9a-f]{16})\./;

/** Removes the merged sets of `modelPath` beyond the `keep` most recently used (their .onnx's access times), never `current`. */
async function evict(modelPath: string, current: string, keep: number): Promise<void> {
  const dir = dirname(modelPath);
  const stem = basename(modelPath).replace(/\.onnx$/, '');
  const names = await readdir(dir);
  const sets = new Map<string, string[]>();
  for (const name of names) {
    const m = TWIN.exec(name);
    if (m && m[1] === stem) sets.set(m[2]!, [...(sets.get(m[2]!) ?? []), name]);
  }
  if (sets.size <= keep) return;
  const used = await Promise.all(
    [...sets.keys()].map(async (tag) => ({ tag, at: await stat(join(dir, `${stem}.${tag}.onnx`)).then((s) => s.atimeMs, () => 0) })),
  );
  used.sort((a, b) => b.at - a.at);
  const old = used.filter((u) => u.tag !== current).slice(Math.max(0, keep - 1));
  for (const { tag } of old) await Promise.all(sets.get(tag)!.map((name) => rm(join(dir, name), { force: true })));
}

type Merged = { path: string; fresh: boolean; changed?: number };

/** Merges under way in this process, by twin: a second load of the same set (the engine's cache evicted it meanwhile, say) waits for the first. */
const merging = new Map<string, Promise<Merged>>();

/**
 * The file to load for `modelPath` with `adapters` merged in (the file itself when none of them
 * changes it). `fresh` when it was merged now.
 */
export async function mergedFile(modelPath: string, adapters: readonly WeightedAdapter[], keep = MAX_MERGED_SETS): Promise<Merged> {
  const mine = adapters.filter((a) => a.fitted.length > 0);
  if (mine.length === 0) return { path: modelPath, fresh: false };
  const tag = loraSetTag(mine);
  const key = `${modelPath}\n${tag}`;
  const running = merging.get(key);
  if (running) return { ...(await running), fresh: false };
  const made = merge(modelPath, tag, mine, keep);
  merging.set(key, made);
  try {
    return await made;
  } finally {
    merging.delete(key);
  }
}

async function merge(modelPath: string, tag: string, mine: readonly WeightedAdapter[], keep: number): Promise<Merged> {
  let changed: number | undefined;
  const r = await derivedModelFile(modelPath, tag, async (model, target) => {
    changed = await mergeAdapters(model, modelPath, target, mine);
    return true;
  });
  // Last use goes in the access time: the modification time is what the twins derived from this one are checked against.
  const { mtime } = await stat(r.path);
  await utimes(r.path, new Date(), mtime);
  if (r.fresh) await evict(modelPath, tag, keep);
  return changed !== undefined ? { ...r, changed } : r;
}
