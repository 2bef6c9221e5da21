/**
 * Reads a model folder in the Hugging Face ONNX Stable Diffusion layout (what optimum exports),
 * checking every file the pipelines will need before any session is created.
 */
import { access, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { listControlNets } from '../controlnet/folder.ts';
import { ModelFormatError } from '../errors.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';
import { inferManifest } from './infer.ts';
import { MANIFEST_FILE, type ModelManifest } from './manifest.ts';
import { parseManifest } from './parse-manifest.ts';

export interface ModelComponents {
  textEncoder: string;
  /** SDXL's second text encoder (CLIPTextModelWithProjection). */
  textEncoder2?: string;
  unet: string;
  vaeDecoder: string;
  /** Needed for image-to-image and inpainting only. */
  vaeEncoder?: string;
  tokenizer: string;
  tokenizer2?: string;
}

export interface ModelInfo {
  dir: string;
  manifest: ModelManifest;
  /** True when darkroom.json was absent and the manifest was inferred. */
  inferred: boolean;
  modelIndex: Record<string, unknown>;
  schedulerConfig: SchedulerConfig;
  vaeScalingFactor: number;
  components: ModelComponents;
  /** ControlNets beside the model (controlnet/<name>/model.onnx), by name. */
  controlNets: string[];
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelFormatError(`${what} is missing: ${path}`, path);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new ModelFormatError(`${what} is not valid JSON (${(err as Error).message}): ${path}`, path);
  }
}

async function readOptionalJson(path: string, what: string): Promise<Record<string, unknown> | undefined> {
  return (await exists(path)) ? readJson(path, what) : undefined;
}

export async function readModelFolder(folder: string): Promise<ModelInfo> {
  const dir = resolve(folder);
  const modelIndex = await readJson(join(dir, 'model_index.json'), 'model_index.json');
  const schedulerConfig = (await readJson(join(dir, 'scheduler', 'scheduler_config.json'), 'scheduler config')) as SchedulerConfig;

  const need = async (rel: string): Promise<string> => {
    const p = join(dir, rel);
    if (!(await exists(p))) throw new ModelFormatError(`model ${basename(dir)} is missing ${rel} (${p})`, p);
    return p;
  };
  const optional = async (rel: string): Promise<string | undefined> => ((await exists(join(dir, rel))) ? join(dir, rel) : undefined);

  const hasSecondEncoder = 'text_encoder_2' in modelIndex || (await exists(join(dir, 'text_encoder_2')));
  const components: ModelComponents = {
    textEncoder: await need('text_encoder/model.onnx'),
    unet: await need('unet/model.onnx'),
    vaeDecoder: await need('vae_decoder/model.onnx'),
    vaeEncoder: await optional('vae_encoder/model.onnx'),
    tokenizer: await tokenizerDir(dir, 'tokenizer', need),
  };
  if (hasSecondEncoder) {
    components.textEncoder2 = await need('text_encoder_2/model.onnx');
    components.tokenizer2 = (await hasTokenizer(join(dir, 'tokenizer_2'))) ? join(dir, 'tokenizer_2') : components.tokenizer;
  }

  const vaeConfig =
    (await readOptionalJson(join(dir, 'vae_decoder', 'config.json'), 'VAE decoder config')) ??
    (await readOptionalJson(join(dir, 'vae_encoder', 'config.json'), 'VAE encoder config'));
  const family = hasSecondEncoder ? 'sdxl' : undefined;
  const scaling = vaeConfig?.['scaling_factor'];
  const vaeScalingFactor = typeof scaling === 'number' ? scaling : family === 'sdxl' ? 0.13025 : 0.18215;

  const manifestPath = join(dir, MANIFEST_FILE);
  const rawManifest = await readOptionalJson(manifestPath, MANIFEST_FILE);
  const manifest = rawManifest
    ? parseManifest(rawManifest, manifestPath)
    : inferManifest({ dir, modelIndex, schedulerConfig, hasSecondEncoder });
  return { dir, manifest, inferred: !rawManifest, modelIndex, schedulerConfig, vaeScalingFactor, components, controlNets: await listControlNets(dir) };
}

/** A tokenizer folder holds vocab.json and merges.txt, or only tokenizer.json (what transformers 5 writes). */
async function hasTokenizer(folder: string): Promise<boolean> {
  return (await exists(join(folder, 'vocab.json'))) || (await exists(join(folder, 'tokenizer.json')));
}

async function tokenizerDir(dir: string, name: string, need: (rel: string) => Promise<string>): Promise<string> {
  if (await exists(join(dir, name, 'tokenizer.json'))) return join(dir, name);
  await need(`${name}/vocab.json`);
  await need(`${name}/merges.txt`);
  return join(dir, name);
}
