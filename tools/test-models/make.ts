/**
 * Makes tiny random-weight Stable Diffusion models in the Hugging Face ONNX folder layout (what
 * optimum exports), plus Darkroom's darkroom.json, for tests and CI. Pure TypeScript: the ONNX
 * files are built with src/engine/onnx.
 *
 *   node --import tsx tools/test-models/make.ts <outDir> [variant...]   (default: every variant)
 */
import { mkdir, rm, stat, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { saveModel } from '../../src/engine/onnx/builder.ts';
import { MANIFEST_FILE } from '../../src/engine/models/manifest.ts';
import { Prng } from './rng.ts';
import { buildTextEncoder } from './text-encoder.ts';
import { buildTokenizer, writeTokenizer } from './tokenizer.ts';
import { buildControlNet } from './controlnet.ts';
import { buildUnet, type UnetSpec } from './unet.ts';
import { buildVaeDecoder, buildVaeEncoder } from './vae.ts';
import {
  TEST_MODEL_VARIANTS,
  TEXT_2_DIM,
  TEXT_DIM,
  TEXT_LAYERS,
  TIME_COND_DIM,
  VARIANTS,
  isTestModelVariant,
  manifestFor,
  type TestModelVariant,
  type VariantSpec,
} from './variants.ts';

export { TEST_MODEL_VARIANTS, VARIANTS, isTestModelVariant, type TestModelVariant } from './variants.ts';

export const DEFAULT_SEED = 20240601;
/** Down residuals of the test UNet: diffusers' count for block_out_channels [32], layers_per_block 1 (conv_in's + one layer's). */
export const CONTROLNET_RESIDUALS = 2;
/** The ControlNet a ControlNet variant ships, under controlnet/<name>/. */
export const TEST_CONTROLNET = 'canny';
const DIFFUSERS_VERSION = '0.30.0';

export interface MakeOptions {
  seed?: number;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

function unetSpec(spec: VariantSpec): UnetSpec {
  return {
    inChannels: spec.unetInChannels,
    contextDim: spec.sdxl ? TEXT_DIM + TEXT_2_DIM : TEXT_DIM,
    timestep: spec.timestep,
    sdxl: spec.sdxl ? { textEmbedsDim: TEXT_DIM, timeIds: 6 } : undefined,
    timeCondDim: spec.lcm ? TIME_COND_DIM : undefined,
    fp16: spec.fp16,
    ...(spec.controlNet ? { residuals: CONTROLNET_RESIDUALS } : {}),
  };
}

export async function writeUnet(dir: string, spec: VariantSpec, rng: Prng, sampleName?: string): Promise<void> {
  const unet = unetSpec(spec);
  await saveModel(join(dir, 'unet', 'model.onnx'), buildUnet({ ...unet, sampleName }, rng.fork('unet')), { externalData: spec.externalUnet });
  await writeJson(join(dir, 'unet', 'config.json'), {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: DIFFUSERS_VERSION,
    in_channels: unet.inChannels,
    out_channels: 4,
    sample_size: 8,
    cross_attention_dim: unet.contextDim,
    addition_embed_type: spec.sdxl ? 'text_time' : null,
    addition_time_embed_dim: spec.sdxl ? 8 : null,
    projection_class_embeddings_input_dim: spec.sdxl ? TEXT_DIM + 6 * 16 : null,
    time_cond_proj_dim: unet.timeCondDim ?? null,
    block_out_channels: [32],
    layers_per_block: 1,
  });
}

async function writeControlNet(dir: string, spec: VariantSpec, rng: Prng): Promise<void> {
  const unet = unetSpec(spec);
  const folder = join(dir, 'controlnet', TEST_CONTROLNET);
  const model = buildControlNet({ contextDim: unet.contextDim, timestep: unet.timestep, residuals: CONTROLNET_RESIDUALS, fp16: spec.fp16 }, rng.fork('controlnet'));
  await saveModel(join(folder, 'model.onnx'), model);
  await writeJson(join(folder, 'config.json'), {
    _class_name: 'ControlNetModel',
    _diffusers_version: DIFFUSERS_VERSION,
    in_channels: 4,
    cross_attention_dim: unet.contextDim,
    block_out_channels: [32],
    layers_per_block: 1,
    conditioning_channels: 3,
  });
}

export async function makeTestModel(dir: string, variant: TestModelVariant, opts: MakeOptions = {}): Promise<void> {
  const spec = VARIANTS[variant];
  if (!spec) throw new Error(`unknown test model variant "${variant}" (known: ${TEST_MODEL_VARIANTS.join(', ')})`);
  const rng = new Prng(opts.seed ?? DEFAULT_SEED);
  await mkdir(dir, { recursive: true });
  const tok = buildTokenizer();
  const vocabSize = tok.vocab.size;

  await writeTokenizer(join(dir, 'tokenizer'), tok, spec.padToken);
  const te = { vocabSize, layers: TEXT_LAYERS, idsType: spec.idsType, hiddenStates: spec.sdxl, fp16: spec.fp16 };
  await saveModel(join(dir, 'text_encoder', 'model.onnx'), buildTextEncoder({ ...te, dim: TEXT_DIM }, rng.fork('text_encoder')));
  await writeJson(join(dir, 'text_encoder', 'config.json'), textConfig('CLIPTextModel', vocabSize, TEXT_DIM));
  if (spec.sdxl) {
    // SDXL's second tokenizer (OpenCLIP bigG's) pads with "!", like SD 2.x.
    await writeTokenizer(join(dir, 'tokenizer_2'), tok, '!');
    const te2 = buildTextEncoder({ ...te, dim: TEXT_2_DIM, projectionDim: TEXT_DIM }, rng.fork('text_encoder_2'));
    await saveModel(join(dir, 'text_encoder_2', 'model.onnx'), te2);
    await writeJson(join(dir, 'text_encoder_2', 'config.json'), {
      ...textConfig('CLIPTextModelWithProjection', vocabSize, TEXT_2_DIM),
      projection_dim: TEXT_DIM,
    });
  }

  await writeUnet(dir, spec, rng);
  if (spec.controlNet) await writeControlNet(dir, spec, rng);

  const vae = { scalingFactor: spec.scalingFactor, encoderOutput: spec.vaeEncoderOutput, fp16: spec.fp16 };
  const vaeConfig = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    // Four blocks: diffusers' vae_scale_factor = 2 ** (len(block_out_channels) - 1) = 8.
    block_out_channels: [8, 8, 8, 8],
    sample_size: 64,
    scaling_factor: spec.scalingFactor,
    ...(spec.sdxl ? { force_upcast: true } : {}),
  };
  await saveModel(join(dir, 'vae_decoder', 'model.onnx'), buildVaeDecoder(vae, rng.fork('vae')));
  await writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig);
  await saveModel(join(dir, 'vae_encoder', 'model.onnx'), buildVaeEncoder(vae, rng.fork('vae')));
  await writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig);

  await mkdir(join(dir, 'scheduler'), { recursive: true });
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), spec.scheduler);
  await writeJson(join(dir, 'model_index.json'), modelIndex(spec));
  // Last, so a folder with a manifest is a complete one.
  await writeJson(join(dir, MANIFEST_FILE), manifestFor(spec));
}

function textConfig(architecture: string, vocabSize: number, hidden: number) {
  return {
    architectures: [architecture],
    model_type: 'clip_text_model',
    hidden_size: hidden,
    intermediate_size: 2 * hidden,
    num_attention_heads: 1,
    num_hidden_layers: TEXT_LAYERS,
    max_position_embeddings: 77,
    vocab_size: vocabSize,
    hidden_act: 'quick_gelu',
  };
}

function modelIndex(spec: VariantSpec): Record<string, unknown> {
  const index: Record<string, unknown> = {
    _class_name: spec.pipelineClass,
    _diffusers_version: DIFFUSERS_VERSION,
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', spec.scheduler._class_name],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae_decoder: ['diffusers', 'AutoencoderKL'],
    vae_encoder: ['diffusers', 'AutoencoderKL'],
  };
  if (spec.sdxl) {
    delete index.safety_checker;
    delete index.feature_extractor;
    delete index.requires_safety_checker;
    index.text_encoder_2 = ['transformers', 'CLIPTextModelWithProjection'];
    index.tokenizer_2 = ['transformers', 'CLIPTokenizer'];
    index.force_zeros_for_empty_prompt = true;
  }
  return index;
}

export const BROKEN_MODEL_KINDS = ['missing-unet', 'wrong-input-names', 'bad-model-index'] as const;
export type BrokenModelKind = (typeof BROKEN_MODEL_KINDS)[number];

/**
 * A tiny-sd1 folder with one defect, for negative tests: no unet/model.onnx, a UNet whose latent
 * input is called `latents` instead of `sample`, or a model_index.json that is not JSON.
 */
export async function makeBrokenModel(dir: string, kind: BrokenModelKind, opts: MakeOptions = {}): Promise<void> {
  await makeTestModel(dir, 'tiny-sd1', opts);
  const spec = VARIANTS['tiny-sd1'];
  switch (kind) {
    case 'missing-unet':
      await rm(join(dir, 'unet', 'model.onnx'));
      break;
    case 'wrong-input-names':
      await writeUnet(dir, spec, new Prng(opts.seed ?? DEFAULT_SEED), 'latents');
      break;
    case 'bad-model-index':
      await writeFile(join(dir, 'model_index.json'), '{"_class_name": "OnnxStableDiffusionPipeline", "unet": ["diffusers",');
      break;
    default:
      throw new Error(`unknown broken model kind "${kind as string}"`);
  }
  await writeJson(join(dir, MANIFEST_FILE), { ...manifestFor(spec), id: `broken-${kind}`, name: `Broken model (${kind})` });
}

/** Total bytes of the files under `dir`. */
export async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await folderSize(p) : (await stat(p)).size;
  }
  return total;
}

async function main(argv: string[]): Promise<void> {
  const [outDir, ...names] = argv;
  if (!outDir || outDir === '--help' || outDir === '-h') {
    console.error(`usage: node --import tsx tools/test-models/make.ts <outDir> [variant...]\nvariants: ${TEST_MODEL_VARIANTS.join(', ')}`);
    process.exit(outDir ? 0 : 2);
  }
  const bad = names.filter((n) => !isTestModelVariant(n));
  if (bad.length) {
    console.error(`unknown variant(s): ${bad.join(', ')} (known: ${TEST_MODEL_VARIANTS.join(', ')})`);
    process.exit(2);
  }
  const variants = names.length ? (names as TestModelVariant[]) : [...TEST_MODEL_VARIANTS];
  for (const v of variants) {
    const dir = resolve(outDir, v);
    const t0 = performance.now();
    await makeTestModel(dir, v);
    const ms = performance.now() - t0;
    console.log(`${v.padEnd(18)} ${(await folderSize(dir)).toLocaleString('en').padStart(9)} bytes  ${ms.toFixed(0).padStart(4)} ms  ${dir}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
