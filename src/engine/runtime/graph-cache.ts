/**
 * Graphs ONNX Runtime has optimised, kept on disk so a model is optimised once, not at every load
 * (an SD 1.5 UNet takes tens of seconds on CPU). Like the engine's other derived models
 * (models/derived-file.ts) an entry sits beside the file it came from, so it goes wherever the
 * model goes, in a hidden folder of its own (the LoRA twins' eviction reads the folder's file
 * names): `unet/model.onnx` → `unet/.ort-graphs/model.onnx.cpu-all/` holding `model.onnx`, its
 * weights (`model.onnx_data`) and `key.json`.
 *
 * An entry is used only while its key matches: the source file's size and mtime (and those of its
 * `<file>_data` weights), the execution provider and its options, the optimisation level and session
 * configuration, the onnxruntime version, and the machine. ONNX Runtime warns that a graph optimised
 * at level 'all' may hold layout and provider-specific rewrites for the hardware it was made on and
 * should be used there only: the CPU model and architecture are part of the key, so another machine
 * sharing the folder makes its own. An entry that does not match, or does not load, is made again;
 * an entry that cannot be written leaves the load as it would have been without one. Entries whose
 * source file is gone (an evicted LoRA twin) are removed when a new entry is made beside them.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const CACHED_MODEL_FILE = 'model.onnx';
const CACHED_WEIGHTS_FILE = 'model.onnx_data';
const KEY_FILE = 'key.json';
const CACHE_FOLDER = '.ort-graphs';
/** A build left by a process that died mid-way is removed after this long. */
const STALE_BUILD_MS = 24 * 3600 * 1000;

/** What the optimised graph depends on besides the source file. */
export interface GraphCacheSettings {
  provider: string;
  level: string;
  runtimeVersion: string;
  /** Anything else the session was given that changes the graph: provider options, configuration entries. */
  options?: unknown;
}

export interface GraphCacheEntry {
  /** The entry's folder. */
  dir: string;
  /** The optimised graph, when the entry matches the key (load it with optimisations off). */
  model?: string;
  key: string;
}

export function graphCacheDir(modelPath: string, settings: Pick<GraphCacheSettings, 'provider' | 'level'>): string {
  return join(dirname(modelPath), CACHE_FOLDER, `${basename(modelPath)}.${settings.provider}-${settings.level}`);
}

async function fileIdentity(path: string): Promise<{ size: number; mtimeMs: number } | null> {
  try {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch {
    return null;
  }
}

/** The entry for `modelPath` under `settings`, with `model` set when it can be used as it is. */
export async function findGraphCache(modelPath: string, settings: GraphCacheSettings): Promise<GraphCacheEntry> {
  const dir = graphCacheDir(modelPath, settings);
  const key = JSON.stringify({
    file: basename(modelPath),
    source: await fileIdentity(modelPath),
    weights: await fileIdentity(`${modelPath}_data`),
    ...settings,
    machine: { cpu: cpus()[0]?.model.trim() ?? 'unknown', arch: process.arch, platform: process.platform },
  });
  const stored = await readFile(join(dir, KEY_FILE), 'utf8').catch(() => undefined);
  const model = join(dir, CACHED_MODEL_FILE);
  return stored === key && (await fileIdentity(model)) ? { dir, model, key } : { dir, key };
}

/**
 * A private folder for ONNX Runtime to write a new entry into, and the session settings that make
 * it do so; `commit` puts it in place of the entry (all at once: a rename), `discard` throws it away.
 */
export async function newGraphCache(entry: GraphCacheEntry): Promise<{
  optimizedModelFilePath: string;
  configEntries: Record<string, string>;
  commit: () => Promise<boolean>;
  discard: () => Promise<void>;
}> {
  const tmp = `${entry.dir}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(tmp, { recursive: true });
  const discard = () => rm(tmp, { recursive: true, force: true });
  return {
    optimizedModelFilePath: join(tmp, CACHED_MODEL_FILE),
    // Weights go to a file of their own: a UNet's are past protobuf's 2 GB limit.
    configEntries: {
      'session.optimized_model_external_initializers_file_name': CACHED_WEIGHTS_FILE,
      'session.optimized_model_external_initializers_min_size_in_bytes': '1024',
    },
    discard,
    commit: async () => {
      try {
        await writeFile(join(tmp, KEY_FILE), entry.key);
        await rm(entry.dir, { recursive: true, force: true });
        await rename(tmp, entry.dir);
      } catch {
        // Another process put its entry there first (same key), or the folder is read-only.
        await discard();
        return false;
      }
      await sweep(dirname(entry.dir)).catch(() => undefined);
      return true;
    },
  };
}

/** Removes the entries whose source file is gone and builds abandoned long ago. */
async function sweep(folder: string): Promise<void> {
  const models = dirname(folder);
  for (const name of await readdir(folder)) {
    const dir = join(folder, name);
    if (name.endsWith('.tmp')) {
      const made = await fileIdentity(dir);
      if (made && Date.now() - made.mtimeMs > STALE_BUILD_MS) await rm(dir, { recursive: true, force: true });
      continue;
    }
    const key = await readFile(join(dir, KEY_FILE), 'utf8').catch(() => undefined);
    const file = key ? (JSON.parse(key) as { file?: unknown }).file : undefined;
    if (typeof file === 'string' && !(await fileIdentity(join(models, file)))) await rm(dir, { recursive: true, force: true });
  }
}
