/**
 * Makes Stable Diffusion-shaped models with random weights in the Hugging Face ONNX layout
 * (text_encoder/, [text_encoder_2/], unet/, vae_decoder/, tokenizer/, scheduler/, model_index.json)
 * plus darkroom.json, so the engine loads them as it loads any model. Weights are random
 * (deterministic in the seed): they draw noise, and they cost exactly what the real networks cost.
 *
 *   node --import tsx tools/bench/make.ts <outDir> --shape sd15 --dtype fp16
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MANIFEST_FILE, type ModelManifest } from '../../src/engine/models/manifest.ts';
import { buildTokenizer, EOS, writeTokenizer } from '../test-models/tokenizer.ts';
import { VARIANTS } from '../test-models/variants.ts';
import { BENCH_SHAPES, isBenchShape, SHAPES, type BenchShape, type BenchShapeName, type TextEncoderConfig, textEncoderParamCount, unetParamCount, vaeDecoderParamCount } from './configs.ts';
import { writeNetwork, type FloatType } from './net.ts';
import { buildTextEncoder } from './text-encoder.ts';
import { buildUnet } from './unet.ts';
import { buildVaeDecoder } from './vae.ts';

export const BENCH_SEED = 20251124;
export const BENCH_INFO_FILE = 'bench.json';
/** Components whose weights exceed this many bytes keep them in model.onnx_data (ONNX external data). */
const EXTERNAL_ABOVE_BYTES = 1e9;
const DIFFUSERS_VERSION = '0.30.0';

export type Dtype = 'fp32' | 'fp16';
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16'];

export interface BenchModelInfo {
  shape: BenchShapeName;
  dtype: Dtype;
  seed: number;
  /** Parameters per component, counted while building. */
  params: Record<string, number>;
  /** Milliseconds spent building each component. */
  buildMs: Record<string, number>;
}

const floatType = (d: Dtype): FloatType => (d === 'fp16' ? 'float16' : 'float32');

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

function textConfig(t: TextEncoderConfig) {
  return {
    architectures: [t.projectionDim ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'],
    model_type: 'clip_text_model',
    hidden_size: t.dim,
    intermediate_size: t.mlpDim,
    num_attention_heads: t.heads,
    num_hidden_layers: t.layers,
    max_position_embeddings: t.positions,
    vocab_size: t.vocabSize,
    hidden_act: t.act,
    ...(t.projectionDim ? { projection_dim: t.projectionDim } : {}),
  };
}

function manifest(shape: BenchShape, dtype: Dtype): ModelManifest {
  return {
    id: `bench-${shape.name}-${dtype}`,
    name: `Benchmark ${shape.name} ${dtype} (random weights)`,
    family: shape.family,
    description: `A ${shape.name}-shaped model with random weights, made by tools/bench for benchmarks. Draws noise, not pictures.`,
    license: 'benchmark only',
    defaults: { width: shape.size, height: shape.size, steps: 20, guidance: 7.5, scheduler: 'euler' },
    schedulers: ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'pndm', 'lms', 'heun', 'unipc'],
    minSize: shape.sizeMultiple,
    maxSize: 2048,
  };
}

/** Writes every component of a `shape` model into `dir`. */
export interface MakeBenchOptions {
  seed?: number;
  /** Components with more weight bytes than this keep them in model.onnx_data (default 1e9). */
  externalAboveBytes?: number;
}

export async function makeBenchModel(dir: string, shapeName: BenchShapeName, dtype: Dtype, opts: MakeBenchOptions = {}): Promise<BenchModelInfo> {
  const seed = opts.seed ?? BENCH_SEED;
  const externalAbove = opts.externalAboveBytes ?? EXTERNAL_ABOVE_BYTES;
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`unknown bench shape "${shapeName}" (known: ${BENCH_SHAPES.join(', ')})`);
  const bytesPer = dtype === 'fp16' ? 2 : 4;
  const info: BenchModelInfo = { shape: shapeName, dtype, seed, params: {}, buildMs: {} };
  const doc = `Darkroom benchmark model (${shapeName}, ${dtype}): random weights. Not for use.`;

  const component = async (sub: string, estimate: number, build: Parameters<typeof writeNetwork>[3]) => {
    await mkdir(join(dir, sub), { recursive: true });
    const t0 = performance.now();
    const external = estimate * bytesPer > externalAbove;
    const { params } = await writeNetwork(join(dir, sub, 'model.onnx'), sub, { seed: seed ^ hash32(sub), dtype: floatType(dtype), external, doc }, build);
    info.params[sub] = params;
    info.buildMs[sub] = Math.round(performance.now() - t0);
  };

  await mkdir(dir, { recursive: true });
  const tok = buildTokenizer();
  if (tok.vocab.size > shape.textEncoder.vocabSize) throw new Error(`tokenizer has ${tok.vocab.size} ids, more than the text encoder's vocabulary`);
  await writeTokenizer(join(dir, 'tokenizer'), tok, EOS);
  await component('text_encoder', textEncoderParamCount(shape.textEncoder), (net) => buildTextEncoder(net, shape.textEncoder));
  await writeJson(join(dir, 'text_encoder', 'config.json'), textConfig(shape.textEncoder));
  if (shape.textEncoder2) {
    const te2 = shape.textEncoder2;
    await writeTokenizer(join(dir, 'tokenizer_2'), tok, '!');
    await component('text_encoder_2', textEncoderParamCount(te2), (net) => buildTextEncoder(net, te2));
    await writeJson(join(dir, 'text_encoder_2', 'config.json'), textConfig(te2));
  }

  const u = shape.unet;
  await component('unet', unetParamCount(u), (net) => buildUnet(net, u));
  await writeJson(join(dir, 'unet', 'config.json'), {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: DIFFUSERS_VERSION,
    in_channels: u.inChannels,
    out_channels: u.outChannels,
    block_out_channels: u.blockChannels,
    layers_per_block: u.layersPerBlock,
    transformer_layers_per_block: u.transformerDepth,
    attention_head_dim: u.heads,
    cross_attention_dim: u.contextDim,
    use_linear_projection: u.linearProjection,
    norm_num_groups: u.normGroups,
    sample_size: shape.size / 8,
    addition_embed_type: u.addition ? 'text_time' : null,
    addition_time_embed_dim: u.addition?.timeEmbedDim ?? null,
  });

  const v = shape.vaeDecoder;
  await component('vae_decoder', vaeDecoderParamCount(v), (net) => buildVaeDecoder(net, v));
  await writeJson(join(dir, 'vae_decoder', 'config.json'), {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    in_channels: 3,
    out_channels: 3,
    latent_channels: v.latentChannels,
    block_out_channels: v.blockChannels,
    layers_per_block: v.layersPerBlock,
    norm_num_groups: v.normGroups,
    sample_size: shape.size,
    scaling_factor: v.scalingFactor,
  });

  const sdxl = shape.family === 'sdxl';
  await mkdir(join(dir, 'scheduler'), { recursive: true });
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), (sdxl ? VARIANTS['tiny-sdxl'] : VARIANTS['tiny-sd1']).scheduler);
  const index: Record<string, unknown> = {
    _class_name: sdxl ? 'ORTStableDiffusionXLPipeline' : 'OnnxStableDiffusionPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae_decoder: ['diffusers', 'AutoencoderKL'],
  };
  if (sdxl) {
    index.text_encoder_2 = ['transformers', 'CLIPTextModelWithProjection'];
    index.tokenizer_2 = ['transformers', 'CLIPTokenizer'];
    index.force_zeros_for_empty_prompt = true;
  }
  await writeJson(join(dir, 'model_index.json'), index);
  await writeJson(join(dir, BENCH_INFO_FILE), info);
  // Last, so a folder with a manifest is a complete one.
  await writeJson(join(dir, MANIFEST_FILE), manifest(shape, dtype));
  return info;
}

function hash32(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32LE(0);
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = [
  ...['configs.ts', 'net.ts', 'unet.ts', 'text-encoder.ts', 'vae.ts', 'make.ts'].map((f) => join(REPO_ROOT, 'tools', 'bench', f)),
  join(REPO_ROOT, 'tools', 'test-models', 'tokenizer.ts'),
  join(REPO_ROOT, 'src', 'engine', 'onnx', 'builder.ts'),
  join(REPO_ROOT, 'src', 'engine', 'onnx', 'proto.ts'),
];

/** The cache key of a model: its shape's config, dtype, seed and the makers' sources. */
export async function benchModelKey(shape: BenchShapeName, dtype: Dtype, seed = BENCH_SEED): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify({ config: SHAPES[shape], dtype, seed }));
  for (const f of SOURCES) h.update(await readFile(f));
  return h.digest('hex').slice(0, 12);
}

export const DEFAULT_BENCH_MODELS_DIR = join(REPO_ROOT, 'data', 'bench-models');

/**
 * The folder of a ready `shape`/`dtype` model under `root`, made on first use and reused after
 * (keyed by benchModelKey). Made in a temporary folder and renamed into place, so a run that is
 * interrupted never leaves a half-written model behind.
 */
export async function ensureBenchModel(
  shape: BenchShapeName,
  dtype: Dtype,
  root = DEFAULT_BENCH_MODELS_DIR,
  log?: (m: string) => void,
): Promise<{ dir: string; made: boolean }> {
  const dir = join(root, `${shape}-${dtype}-${await benchModelKey(shape, dtype)}`);
  if (existsSync(join(dir, MANIFEST_FILE))) return { dir, made: false };
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    log?.(`building ${shape} ${dtype} model in ${dir} ...`);
    const t0 = performance.now();
    await makeBenchModel(tmp, shape, dtype);
    try {
      await rename(tmp, dir);
    } catch (err) {
      if (!existsSync(join(dir, MANIFEST_FILE))) throw err; // else another process made it first
    }
    log?.(`built ${shape} ${dtype} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { dir, made: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(p) : (await stat(p)).size;
  }
  return total;
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const take = (flag: string, fallback: string): string => {
    const i = args.indexOf(flag);
    if (i < 0) return fallback;
    const [, value] = args.splice(i, 2);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    return value;
  };
  const shape = take('--shape', 'mini');
  const dtype = take('--dtype', 'fp32');
  const out = args[0];
  if (!out || !isBenchShape(shape) || !DTYPES.includes(dtype as Dtype)) {
    console.error(`usage: node --import tsx tools/bench/make.ts <outDir> [--shape ${BENCH_SHAPES.join('|')}] [--dtype fp32|fp16]`);
    process.exit(2);
  }
  const t0 = performance.now();
  const info = await makeBenchModel(resolve(out), shape, dtype as Dtype);
  console.log(JSON.stringify({ ...info, dir: resolve(out), bytes: await folderBytes(resolve(out)), ms: Math.round(performance.now() - t0) }, null, 2));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
