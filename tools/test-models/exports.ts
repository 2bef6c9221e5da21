/**
 * Model folders in the exact file sets exporters write, without Darkroom's darkroom.json: what a
 * user downloads and points Darkroom at. Each starts from a test-model variant and is reshaped to
 * optimum's `optimum-cli export onnx` layout (model_index.json naming the diffusers pipeline,
 * scheduler/scheduler_config.json, the component folders), or transformers 5's tokenizer.json-only
 * tokenizer.
 *
 *   export-sd1        StableDiffusionPipeline with safety_checker/ and feature_extractor/ (flags bright images)
 *   export-sdxl       StableDiffusionXLPipeline, EulerDiscreteScheduler
 *   export-refiner    StableDiffusionXLImg2ImgPipeline: text_encoder_2 + tokenizer_2 only, 5 time ids
 *   export-inpaint    StableDiffusionInpaintPipeline: a 9-channel UNet
 *   export-turbo      sd-turbo's trailing EulerDiscreteScheduler
 *   export-lcm        LatentConsistencyModelPipeline, LCMScheduler
 *   export-tokenizer-json  export-sd1 whose tokenizer folder holds only tokenizer.json
 */
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { saveModel } from '../../src/engine/onnx/builder.ts';
import { MANIFEST_FILE } from '../../src/engine/models/manifest.ts';
import { DEFAULT_SEED, makeTestModel, type MakeOptions } from './make.ts';
import { Prng } from './rng.ts';
import { buildSafetyChecker, PREPROCESSOR_CONFIG } from './safety-checker.ts';
import { buildUnet } from './unet.ts';
import { TEXT_2_DIM, TEXT_DIM, VARIANTS, type TestModelVariant } from './variants.ts';

export const EXPORT_LAYOUTS = ['export-sd1', 'export-sdxl', 'export-refiner', 'export-inpaint', 'export-turbo', 'export-lcm', 'export-tokenizer-json'] as const;
export type ExportLayout = (typeof EXPORT_LAYOUTS)[number];

/** Above this mean CLIP-normalised value (a mean brightness of about 0.5) the test checker flags an image. */
export const SAFETY_THRESHOLD = 0.15;

const BASE: Record<ExportLayout, TestModelVariant> = {
  'export-sd1': 'tiny-sd1',
  'export-sdxl': 'tiny-sdxl',
  'export-refiner': 'tiny-sdxl',
  'export-inpaint': 'tiny-sd1-inpaint',
  'export-turbo': 'tiny-turbo',
  'export-lcm': 'tiny-lcm',
  'export-tokenizer-json': 'tiny-sd1',
};

const PIPELINE: Record<ExportLayout, string> = {
  'export-sd1': 'StableDiffusionPipeline',
  'export-sdxl': 'StableDiffusionXLPipeline',
  'export-refiner': 'StableDiffusionXLImg2ImgPipeline',
  'export-inpaint': 'StableDiffusionInpaintPipeline',
  'export-turbo': 'StableDiffusionPipeline',
  'export-lcm': 'LatentConsistencyModelPipeline',
  'export-tokenizer-json': 'StableDiffusionPipeline',
};

const BETAS = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 };

/** Scheduler configs as the real repositories ship them, where the base variant's differs. */
const SCHEDULER: Partial<Record<ExportLayout, Record<string, unknown>>> = {
  // stabilityai/sd-turbo
  'export-turbo': { _class_name: 'EulerDiscreteScheduler', ...BETAS, interpolation_type: 'linear', prediction_type: 'epsilon', steps_offset: 1, timestep_spacing: 'trailing', use_karras_sigmas: false },
  // stabilityai/stable-diffusion-xl-refiner-1.0
  'export-refiner': { _class_name: 'EulerDiscreteScheduler', ...BETAS, interpolation_type: 'linear', prediction_type: 'epsilon', steps_offset: 1, timestep_spacing: 'leading', use_karras_sigmas: false },
};

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A safety checker flagging images whose mean normalised value is over `threshold` (-Infinity: every image). */
export async function writeSafetyChecker(dir: string, threshold = SAFETY_THRESHOLD): Promise<void> {
  await saveModel(join(dir, 'safety_checker', 'model.onnx'), buildSafetyChecker(threshold));
  await mkdir(join(dir, 'feature_extractor'), { recursive: true });
  await writeJson(join(dir, 'feature_extractor', 'preprocessor_config.json'), PREPROCESSOR_CONFIG);
}

/** transformers 5's tokenizer folder: tokenizer.json (BPE vocab and merges) and tokenizer_config.json. */
async function tokenizerJsonOnly(folder: string): Promise<void> {
  const vocab = await readJson(join(folder, 'vocab.json'));
  const merges = (await readFile(join(folder, 'merges.txt'), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
  await writeJson(join(folder, 'tokenizer.json'), { version: '1.0', added_tokens: [], model: { type: 'BPE', end_of_word_suffix: '</w>', vocab, merges } });
  await rm(join(folder, 'vocab.json'));
  await rm(join(folder, 'merges.txt'));
  await rm(join(folder, 'special_tokens_map.json'), { force: true });
}

export async function makeExportModel(dir: string, layout: ExportLayout, opts: MakeOptions = {}): Promise<void> {
  const variant = BASE[layout];
  await makeTestModel(dir, variant, opts);
  await rm(join(dir, MANIFEST_FILE));
  const index = await readJson(join(dir, 'model_index.json'));
  index['_class_name'] = PIPELINE[layout];
  const scheduler = SCHEDULER[layout] ?? VARIANTS[variant].scheduler;
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), { ...scheduler, _diffusers_version: '0.30.0' });
  index['scheduler'] = ['diffusers', scheduler['_class_name']];

  if (layout === 'export-sd1' || layout === 'export-tokenizer-json') {
    await writeSafetyChecker(dir);
    index['safety_checker'] = ['stable_diffusion', 'StableDiffusionSafetyChecker'];
    index['feature_extractor'] = ['transformers', 'CLIPImageProcessor'];
    index['requires_safety_checker'] = true;
  }
  if (layout === 'export-tokenizer-json') await tokenizerJsonOnly(join(dir, 'tokenizer'));
  if (layout === 'export-refiner') await reshapeToRefiner(dir, index, opts);
  await writeJson(join(dir, 'model_index.json'), index);
}

/**
 * stable-diffusion-xl-refiner-1.0's layout: OpenCLIP bigG's encoder and tokenizer only, a UNet
 * conditioned on its hidden states alone (cross_attention_dim 1280 there) and on 5 time ids
 * (original size, crop, aesthetic score).
 */
async function reshapeToRefiner(dir: string, index: Record<string, unknown>, opts: MakeOptions): Promise<void> {
  await rm(join(dir, 'text_encoder'), { recursive: true });
  await rm(join(dir, 'tokenizer'), { recursive: true });
  const spec = VARIANTS['tiny-sdxl'];
  const unet = buildUnet(
    { inChannels: 4, contextDim: TEXT_2_DIM, timestep: spec.timestep, sdxl: { textEmbedsDim: TEXT_DIM, timeIds: 5 }, fp16: false },
    new Prng(opts.seed ?? DEFAULT_SEED).fork('refiner-unet'),
  );
  await saveModel(join(dir, 'unet', 'model.onnx'), unet);
  const config = await readJson(join(dir, 'unet', 'config.json'));
  await writeJson(join(dir, 'unet', 'config.json'), { ...config, cross_attention_dim: TEXT_2_DIM, projection_class_embeddings_input_dim: TEXT_DIM + 5 * 16 });
  Object.assign(index, { text_encoder: [null, null], tokenizer: [null, null], requires_aesthetics_score: true, force_zeros_for_empty_prompt: false });
}
