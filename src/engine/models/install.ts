/**
 * Installing a model into the models folder: from a local folder (copied) or from a Hugging Face
 * repository in the ONNX Stable Diffusion layout (`hf:owner/name[@revision]`), downloaded file by file
 * through the Hub's HTTP API (`HF_ENDPOINT` and `HF_TOKEN` as huggingface_hub reads them). The files
 * land in a temporary folder beside the destination, which is checked as a model (model-folder.ts)
 * before it takes the final name, so a failed install leaves nothing behind.
 */
import { createWriteStream } from 'node:fs';
import { cp, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { ModelFormatError } from '../errors.ts';
import { exists, readModelFolder, type ModelInfo } from './model-folder.ts';

/** Folders of the layout the engine reads, and the files in them it needs. */
const COMPONENT_DIRS = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2', 'unet', 'vae_decoder', 'vae_encoder', 'scheduler'];
const TOP_FILES = ['model_index.json', 'darkroom.json'];
const WANTED_FILE = /^(model\.onnx|model\.onnx_data|[^/]+\.json|merges\.txt)$/;

export interface HubSource {
  repo: string;
  revision: string;
}

/** `hf:owner/name[@revision]` or a huggingface.co URL; undefined for anything else (a local path). */
export function parseHubSource(source: string): HubSource | undefined {
  const m = /^(?:hf:|https:\/\/huggingface\.co\/)([\w.-]+\/[\w.-]+?)(?:@([\w./-]+)|\/tree\/([\w./-]+))?\/?$/.exec(source);
  return m ? { repo: m[1]!, revision: m[2] ?? m[3] ?? 'main' } : undefined;
}

/** The files of a repository to download: the model layout's, nothing else (no .safetensors, no README). */
export function filesToDownload(paths: readonly string[]): string[] {
  return paths.filter((p) => {
    const parts = p.split('/');
    if (parts.length === 1) return TOP_FILES.includes(p);
    return parts.length === 2 && COMPONENT_DIRS.includes(parts[0]!) && WANTED_FILE.test(parts[1]!);
  });
}

export interface InstallOptions {
  /** Hub endpoint (default `HF_ENDPOINT` or https://huggingface.co). */
  endpoint?: string;
  /** Bearer token for gated or private repositories (default `HF_TOKEN`). */
  token?: string;
  /** Called for each downloaded or copied file. */
  onFile?: (path: string, bytes: number) => void;
  fetch?: typeof fetch;
}

async function download(source: HubSource, dest: string, options: InstallOptions): Promise<void> {
  const endpoint = (options.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/$/, '');
  const token = options.token ?? process.env['HF_TOKEN'];
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const get = options.fetch ?? fetch;
  const rev = encodeURIComponent(source.revision);
  const listing = await get(`${endpoint}/api/models/${source.repo}/revision/${rev}`, { headers });
  if (!listing.ok) {
    const why = listing.status === 401 || listing.status === 403 ? ' (a gated or private repository needs HF_TOKEN)' : '';
    throw new ModelFormatError(`cannot list ${source.repo}@${source.revision}: HTTP ${listing.status}${why}`, source.repo);
  }
  const siblings = ((await listing.json()) as { siblings?: { rfilename?: string }[] }).siblings ?? [];
  const files = filesToDownload(siblings.flatMap((s) => (s.rfilename ? [s.rfilename] : [])));
  if (!files.includes('model_index.json')) {
    throw new ModelFormatError(`${source.repo}@${source.revision} has no model_index.json: not a diffusers model (an ONNX export is often on an "onnx" revision: hf:${source.repo}@onnx)`, source.repo);
  }
  for (const file of files) {
    const res = await get(`${endpoint}/${source.repo}/resolve/${rev}/${file}`, { headers });
    if (!res.ok || !res.body) throw new ModelFormatError(`download of ${source.repo}/${file} failed: HTTP ${res.status}`, file);
    const target = join(dest, file);
    await mkdir(dirname(target), { recursive: true });
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(target));
    options.onFile?.(file, (await stat(target)).size);
  }
}

/**
 * Installs `source` as `<modelsDir>/<name>` and returns the installed model. Refuses to replace an
 * existing folder of that name.
 */
export async function installModel(source: string, modelsDir: string, name: string, options: InstallOptions = {}): Promise<ModelInfo> {
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) throw new ModelFormatError(`"${name}" is not a usable folder name for a model`, name);
  const dest = join(modelsDir, name);
  if (await exists(dest)) throw new ModelFormatError(`${dest} exists already: remove it first, or install under another --name`, dest);
  await mkdir(modelsDir, { recursive: true });
  const tmp = join(modelsDir, `.${name}.installing-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  try {
    const hub = parseHubSource(source);
    if (hub) await download(hub, tmp, options);
    else {
      if (!(await exists(join(source, 'model_index.json')))) throw new ModelFormatError(`${source} is not a model folder (no model_index.json)`, source);
      await cp(source, tmp, { recursive: true, dereference: true });
    }
    await readModelFolder(tmp); // every file the pipelines need, before the folder takes its name
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return readModelFolder(dest);
}
