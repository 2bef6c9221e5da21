/**
 * Reads a model folder in the Hugging Face ONNX Stable Diffusion layout (what optimum exports),
 * checking every file the pipelines will need before any session is created.
 */
import { access, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { listControlNets } from '../controlnet/folder.ts';
import { ModelFormatError } from '../errors.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';
import { inferManifest, pipelineClass } from './infer.ts';
import { MANIFEST_FILE, type ModelManifest } from './manifest.ts';
import { parseManifest } from './parse-manifest.ts';

export interface ModelComponents {
  /** text_encoder/model.onnx; for an SDXL refiner (no text_encoder), its text_encoder_2. */
  textEncoder: string;
  /** SDXL's second text encoder (CLIPTextModelWithProjection). */
  textEncoder2?: string;
  unet: string;
  vaeDecoder: string;
  /** Needed for image-to-image and inpainting only. */
  vaeEncoder?: string;
  tokenizer: string;
  tokenizer2?: string;
  /** diffusers' StableDiffusionSafetyChecker, with feature_extractor/preprocessor_config.json beside it. */
  safetyChecker?: string;
}

/** vae/config.json's latent normalisation: latents = (z - shift) * scale; forceUpcast keeps the VAE in float32. */
export interface VaeSettings {
  scalingFactor: number;
  shiftFactor: number;
  forceUpcast: boolean;
}

/** The CLIP image preprocessing the safety checker's features need (feature_extractor/preprocessor_config.json). */
export interface FeatureExtractorConfig {
  size: number;
  cropSize: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export interface ModelInfo {
  dir: string;
  manifest: ModelManifest;
  /** True when darkroom.json was absent and the manifest was inferred. */
  inferred: boolean;
  modelIndex: Record<string, unknown>;
  schedulerConfig: SchedulerConfig;
  vae: VaeSettings;
  components: ModelComponents;
  /** ControlNets beside the model (controlnet/<name>/model.onnx), by name. */
  controlNets: string[];
  /** SDXL refiner layout: text_encoder_2 and tokenizer_2 only, 5 time ids with an aesthetic score. */
  refiner: boolean;
  featureExtractor?: FeatureExtractorConfig;
  /** What was read differently from what the folder asked (a scheduler Darkroom lacks, say): logged at load. */
  notes: string[];
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

  const hasFirstEncoder = await exists(join(dir, 'text_encoder', 'model.onnx'));
  const hasSecondEncoder = 'text_encoder_2' in modelIndex || (await exists(join(dir, 'text_encoder_2')));
  // The refiner ships only OpenCLIP bigG's encoder; model_index.json lists text_encoder as [null, null].
  const refiner = hasSecondEncoder && !hasFirstEncoder;
  const [encoder, tokenizer] = refiner ? ['text_encoder_2', 'tokenizer_2'] : ['text_encoder', 'tokenizer'];
  const components: ModelComponents = {
    textEncoder: await need(`${encoder}/model.onnx`),
    unet: await need('unet/model.onnx'),
    vaeDecoder: await need('vae_decoder/model.onnx'),
    vaeEncoder: await optional('vae_encoder/model.onnx'),
    tokenizer: await tokenizerDir(dir, tokenizer, need),
  };
  if (hasSecondEncoder && !refiner) {
    components.textEncoder2 = await need('text_encoder_2/model.onnx');
    components.tokenizer2 = (await hasTokenizer(join(dir, 'tokenizer_2'))) ? join(dir, 'tokenizer_2') : components.tokenizer;
  }
  const safetyChecker = await optional('safety_checker/model.onnx');
  const featureConfig = safetyChecker ? await readJson(join(dir, 'feature_extractor', 'preprocessor_config.json'), 'feature extractor config') : undefined;
  if (safetyChecker) components.safetyChecker = safetyChecker;

  const vaeConfig =
    (await readOptionalJson(join(dir, 'vae_decoder', 'config.json'), 'VAE decoder config')) ??
    (await readOptionalJson(join(dir, 'vae_encoder', 'config.json'), 'VAE encoder config'));
  const xl = hasSecondEncoder || pipelineClass(modelIndex).startsWith('StableDiffusionXL');
  const vae = vaeSettings(vaeConfig, xl);

  const unetConfig = await readOptionalJson(join(dir, 'unet', 'config.json'), 'UNet config');
  const inpainting = unetConfig?.['in_channels'] === 9 || pipelineClass(modelIndex).includes('Inpaint');
  const notes: string[] = [];
  const manifestPath = join(dir, MANIFEST_FILE);
  const rawManifest = await readOptionalJson(manifestPath, MANIFEST_FILE);
  const manifest = rawManifest
    ? parseManifest(rawManifest, manifestPath)
    : inferManifest({ dir, modelIndex, schedulerConfig, hasSecondEncoder, refiner, inpainting }, (n) => notes.push(n));
  // What the files are decides these, whatever darkroom.json says.
  if (refiner) manifest.needsInitImage = true;
  if (inpainting) manifest.inpainting = true;
  return {
    dir,
    manifest,
    inferred: !rawManifest,
    modelIndex,
    schedulerConfig,
    vae,
    components,
    controlNets: await listControlNets(dir),
    refiner,
    ...(featureConfig ? { featureExtractor: featureExtractorConfig(featureConfig, join(dir, 'feature_extractor', 'preprocessor_config.json')) } : {}),
    notes,
  };
}

function vaeSettings(config: Record<string, unknown> | undefined, xl: boolean): VaeSettings {
  const scaling = config?.['scaling_factor'];
  const shift = config?.['shift_factor'];
  const upcast = config?.['force_upcast'];
  return {
    scalingFactor: typeof scaling === 'number' ? scaling : xl ? 0.13025 : 0.18215,
    shiftFactor: typeof shift === 'number' ? shift : 0,
    // diffusers' AutoencoderKL defaults force_upcast to true; SD 1.x's float16 VAE runs fine, SDXL's overflows.
    forceUpcast: typeof upcast === 'boolean' ? upcast : xl,
  };
}

/** CLIPImageProcessor's keys: size as a number or {shortest_edge}, crop_size as a number or {height, width}. */
function featureExtractorConfig(raw: Record<string, unknown>, path: string): FeatureExtractorConfig {
  const side = (v: unknown, key: string): number => {
    const n = typeof v === 'number' ? v : v && typeof v === 'object' ? ((v as Record<string, unknown>)[key] ?? (v as Record<string, unknown>)['height']) : undefined;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new ModelFormatError(`${path}: "${key === 'shortest_edge' ? 'size' : 'crop_size'}" must be a positive integer or an object holding one`, path);
    return n;
  };
  const triple = (v: unknown, key: string, def: [number, number, number]): [number, number, number] => {
    if (v === undefined) return def;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number')) throw new ModelFormatError(`${path}: "${key}" must be 3 numbers`, path);
    return v as [number, number, number];
  };
  // OpenAI CLIP's statistics, CLIPImageProcessor's defaults.
  return {
    size: side(raw['size'] ?? 224, 'shortest_edge'),
    cropSize: side(raw['crop_size'] ?? 224, 'height'),
    mean: triple(raw['image_mean'], 'image_mean', [0.48145466, 0.4578275, 0.40821073]),
    std: triple(raw['image_std'], 'image_std', [0.26862954, 0.26130258, 0.27577711]),
  };
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
