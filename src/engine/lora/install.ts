/**
 * Installing a LoRA adapter into the LoRA folder: a local `.safetensors` file (copied), or one from a
 * Hugging Face repository, `hf:owner/name[/file.safetensors][@revision]` (the file may be left out
 * when the repository holds one .safetensors), downloaded through the Hub's HTTP API with
 * `HF_ENDPOINT` and `HF_TOKEN` as models/install.ts does. The file lands under a temporary name and is
 * read as an adapter (adapter.ts) before it takes its own, so a failed install leaves nothing behind.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { EngineInputError } from '../errors.ts';
import { exists } from '../models/model-folder.ts';
import type { InstallOptions } from '../models/install.ts';
import { LORA_EXTENSION, loraName, readAdapter, type LoraAdapter } from './adapter.ts';

export interface HubFile {
  repo: string;
  /** A path in the repository; absent: its one .safetensors file. */
  file?: string;
  revision: string;
}

/** `hf:owner/name[/path/file.safetensors][@revision]`; undefined for anything else (a local path). */
export function parseHubFile(source: string): HubFile | undefined {
  const m = /^hf:([\w.-]+\/[\w.-]+?)(?:\/([\w./-]+?\.safetensors))?(?:@([\w./-]+))?$/.exec(source);
  return m ? { repo: m[1]!, ...(m[2] ? { file: m[2] } : {}), revision: m[3] ?? 'main' } : undefined;
}

async function download(source: HubFile, dest: string, options: InstallOptions): Promise<string> {
  const endpoint = (options.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/$/, '');
  const token = options.token ?? process.env['HF_TOKEN'];
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const get = options.fetch ?? fetch;
  const rev = encodeURIComponent(source.revision);
  let file = source.file;
  if (!file) {
    const listing = await get(`${endpoint}/api/models/${source.repo}/revision/${rev}`, { headers });
    if (!listing.ok) {
      const why = listing.status === 401 || listing.status === 403 ? ' (a gated or private repository needs HF_TOKEN)' : '';
      throw new EngineInputError('source', `cannot list ${source.repo}@${source.revision}: HTTP ${listing.status}${why}`);
    }
    const siblings = ((await listing.json()) as { siblings?: { rfilename?: string }[] }).siblings ?? [];
    const found = siblings.flatMap((s) => (s.rfilename?.toLowerCase().endsWith(LORA_EXTENSION) ? [s.rfilename] : []));
    if (found.length !== 1) {
      throw new EngineInputError(
        'source',
        found.length === 0
          ? `${source.repo}@${source.revision} holds no .safetensors file`
          : `${source.repo}@${source.revision} holds ${found.length} .safetensors files: name one, hf:${source.repo}/<file> (${found.join(', ')})`,
      );
    }
    file = found[0]!;
  }
  const res = await get(`${endpoint}/${source.repo}/resolve/${rev}/${file}`, { headers });
  if (!res.ok || !res.body) throw new EngineInputError('source', `download of ${source.repo}/${file} failed: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(dest));
  options.onFile?.(file, (await stat(dest)).size);
  return file;
}

/**
 * Installs `source` as `<lorasDir>/<name>.safetensors` (default name: the file's) and returns the
 * adapter. Refuses to replace an installed one of that name.
 */
export async function installLora(source: string, lorasDir: string, name?: string, options: InstallOptions = {}): Promise<LoraAdapter> {
  const hub = parseHubFile(source);
  if (!hub && !source.toLowerCase().endsWith(LORA_EXTENSION)) throw new EngineInputError('source', `${source} is neither a .safetensors file nor hf:owner/name[/file.safetensors]`);
  await mkdir(lorasDir, { recursive: true });
  const tmp = join(lorasDir, `.installing-${process.pid}${LORA_EXTENSION}`);
  try {
    let file = source;
    if (hub) file = await download(hub, tmp, options);
    else await copyFile(source, tmp);
    const chosen = name ?? loraName(basename(file));
    if (!/^[\w.+-]+$/.test(chosen) || chosen.startsWith('.')) throw new EngineInputError('name', `"${chosen}" is not a usable LoRA name (letters, digits, . _ + -)`);
    const dest = join(lorasDir, `${chosen}${LORA_EXTENSION}`);
    if (await exists(dest)) throw new EngineInputError('name', `${dest} exists already: remove it first, or install under another --name`);
    await readAdapter(tmp, 'source'); // a LoRA Darkroom can read, before it takes its name
    await rename(tmp, dest);
    return readAdapter(dest, 'source');
  } finally {
    await rm(tmp, { force: true });
  }
}
