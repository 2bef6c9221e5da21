/**
 * The shapes the benchmark builds: Stable Diffusion's real UNet2DConditionModel, CLIP text encoder
 * and AutoencoderKL decoder architectures (diffusers / transformers layouts and parameter names),
 * parameterised so the same code makes SD 1.5-shaped, SDXL-shaped and tiny CPU-sized models.
 * tools/bench/torch_reference.py reads the same configs (`darkroom bench --print-config`), so the
 * PyTorch reference runs exactly these architectures.
 */

export interface UnetConfig {
  inChannels: number;
  outChannels: number;
  /** block_out_channels: one entry per down block (and, reversed, per up block). */
  blockChannels: number[];
  /** ResNet blocks per down block (up blocks have one more). */
  layersPerBlock: number;
  /** Transformer blocks inside each down block's Transformer2DModels; 0 = a plain DownBlock2D / UpBlock2D. */
  transformerDepth: number[];
  midTransformerDepth: number;
  /** Attention heads per block (SD 1.5: 8 everywhere; SDXL: channels / 64). The mid block uses the last. */
  heads: number[];
  /** cross_attention_dim: width of encoder_hidden_states. */
  contextDim: number;
  /** Transformer2DModel proj_in/proj_out: Linear (SDXL, SD 2.x) or 1x1 Conv (SD 1.x). */
  linearProjection: boolean;
  normGroups: number;
  /** SDXL's added conditioning (addition_embed_type "text_time"). */
  addition?: { textEmbedsDim: number; timeIds: number; timeEmbedDim: number };
}

export interface TextEncoderConfig {
  vocabSize: number;
  positions: number;
  dim: number;
  layers: number;
  heads: number;
  mlpDim: number;
  act: 'quick_gelu' | 'gelu';
  /** CLIPTextModelWithProjection (SDXL's text_encoder_2): text_embeds [b, projectionDim]. */
  projectionDim?: number;
  /** Output hidden_states.0..layers (SDXL reads the penultimate layer). */
  hiddenStates: boolean;
}

export interface VaeDecoderConfig {
  latentChannels: number;
  /** block_out_channels in diffusers' order (the decoder runs them reversed). */
  blockChannels: number[];
  /** The decoder's up blocks have layersPerBlock + 1 ResNets. */
  layersPerBlock: number;
  normGroups: number;
  scalingFactor: number;
}

export interface BenchShape {
  name: BenchShapeName;
  family: 'sd1' | 'sdxl';
  /** Default image side in pixels. */
  size: number;
  /** Sizes must be multiples of this (8 × 2^downsamples). */
  sizeMultiple: number;
  unet: UnetConfig;
  textEncoder: TextEncoderConfig;
  textEncoder2?: TextEncoderConfig;
  vaeDecoder: VaeDecoderConfig;
}

export const BENCH_SHAPES = ['mini', 'mini-xl', 'sd15', 'sdxl'] as const;
export type BenchShapeName = (typeof BENCH_SHAPES)[number];

/** The session and model-rewrite settings a run is timed under (tools/bench/run.ts OPT_DESCRIPTIONS says what each does). */
export const OPT_SETS = ['none', 'basic', 'ort-all', 'ort-cached', 'fixed', 'fused', 'fused-fixed', 'fused-all', 'fp16', 'fused-fp16', 'nhwc'] as const;
export type OptSet = (typeof OPT_SETS)[number];

export function isBenchShape(s: string): s is BenchShapeName {
  return (BENCH_SHAPES as readonly string[]).includes(s);
}

const CLIP_L: TextEncoderConfig = {
  vocabSize: 49408,
  positions: 77,
  dim: 768,
  layers: 12,
  heads: 12,
  mlpDim: 3072,
  act: 'quick_gelu',
  hiddenStates: false,
};

const SD_VAE: VaeDecoderConfig = { latentChannels: 4, blockChannels: [128, 256, 512, 512], layersPerBlock: 2, normGroups: 32, scalingFactor: 0.18215 };

/** Tiny text encoder for the CPU shapes: same structure, 2 layers of width 32. */
const MINI_TEXT: TextEncoderConfig = { vocabSize: 1024, positions: 77, dim: 32, layers: 2, heads: 2, mlpDim: 64, act: 'quick_gelu', hiddenStates: false };
const MINI_VAE: VaeDecoderConfig = { latentChannels: 4, blockChannels: [32, 32, 32, 32], layersPerBlock: 1, normGroups: 8, scalingFactor: 0.18215 };

export const SHAPES: Record<BenchShapeName, BenchShape> = {
  /** runwayml/stable-diffusion-v1-5: 859.5M-parameter UNet, CLIP ViT-L/14 text encoder, SD VAE. */
  sd15: {
    name: 'sd15',
    family: 'sd1',
    size: 512,
    sizeMultiple: 64,
    unet: {
      inChannels: 4,
      outChannels: 4,
      blockChannels: [320, 640, 1280, 1280],
      layersPerBlock: 2,
      transformerDepth: [1, 1, 1, 0],
      midTransformerDepth: 1,
      heads: [8, 8, 8, 8],
      contextDim: 768,
      linearProjection: false,
      normGroups: 32,
    },
    textEncoder: CLIP_L,
    vaeDecoder: SD_VAE,
  },
  /** stabilityai/stable-diffusion-xl-base-1.0: 2.57B-parameter UNet, CLIP ViT-L + OpenCLIP bigG. */
  sdxl: {
    name: 'sdxl',
    family: 'sdxl',
    size: 1024,
    sizeMultiple: 32,
    unet: {
      inChannels: 4,
      outChannels: 4,
      blockChannels: [320, 640, 1280],
      layersPerBlock: 2,
      transformerDepth: [0, 2, 10],
      midTransformerDepth: 10,
      heads: [5, 10, 20],
      contextDim: 2048,
      linearProjection: true,
      normGroups: 32,
      addition: { textEmbedsDim: 1280, timeIds: 6, timeEmbedDim: 256 },
    },
    textEncoder: { ...CLIP_L, hiddenStates: true },
    textEncoder2: { vocabSize: 49408, positions: 77, dim: 1280, layers: 32, heads: 20, mlpDim: 5120, act: 'gelu', projectionDim: 1280, hiddenStates: true },
    vaeDecoder: { ...SD_VAE, scalingFactor: 0.13025 },
  },
  /** SD 1.5's topology (cross-attention down blocks, a plain last block, mid attention) at CPU size. */
  mini: {
    name: 'mini',
    family: 'sd1',
    size: 64,
    sizeMultiple: 32,
    unet: {
      inChannels: 4,
      outChannels: 4,
      blockChannels: [32, 64, 64],
      layersPerBlock: 2,
      transformerDepth: [1, 1, 0],
      midTransformerDepth: 1,
      heads: [2, 2, 2],
      contextDim: 32,
      linearProjection: false,
      normGroups: 32,
    },
    textEncoder: MINI_TEXT,
    vaeDecoder: MINI_VAE,
  },
  /** SDXL's topology (two text encoders, added text/time conditioning, linear projections) at CPU size. */
  'mini-xl': {
    name: 'mini-xl',
    family: 'sdxl',
    size: 64,
    sizeMultiple: 32,
    unet: {
      inChannels: 4,
      outChannels: 4,
      blockChannels: [32, 64, 64],
      layersPerBlock: 2,
      transformerDepth: [0, 1, 2],
      midTransformerDepth: 2,
      heads: [1, 2, 2],
      contextDim: 80,
      linearProjection: true,
      normGroups: 32,
      addition: { textEmbedsDim: 48, timeIds: 6, timeEmbedDim: 16 },
    },
    textEncoder: { ...MINI_TEXT, hiddenStates: true },
    textEncoder2: { ...MINI_TEXT, dim: 48, heads: 2, mlpDim: 96, act: 'gelu', projectionDim: 48, hiddenStates: true },
    vaeDecoder: { ...MINI_VAE, scalingFactor: 0.13025 },
  },
};

// ---------------------------------------------------------------------------------------------
// Parameter counts, from the config alone (no weights built): the same arithmetic as summing
// numel() over diffusers' / transformers' state dicts.

const linear = (i: number, o: number, bias = true) => i * o + (bias ? o : 0);
const conv = (i: number, o: number, k: number) => i * o * k * k + o;
const norm = (c: number) => 2 * c;

function resnetParams(cin: number, cout: number, temb: number | undefined): number {
  let n = norm(cin) + conv(cin, cout, 3) + norm(cout) + conv(cout, cout, 3);
  if (temb !== undefined) n += linear(temb, cout);
  if (cin !== cout) n += conv(cin, cout, 1);
  return n;
}

function transformerBlockParams(c: number, ctx: number): number {
  const attn1 = 3 * linear(c, c, false) + linear(c, c);
  const attn2 = linear(c, c, false) + 2 * linear(ctx, c, false) + linear(c, c);
  const ff = linear(c, 8 * c) + linear(4 * c, c);
  return 3 * norm(c) + attn1 + attn2 + ff;
}

function transformer2dParams(c: number, depth: number, ctx: number): number {
  // proj_in / proj_out: 1x1 Conv or Linear, the same count either way.
  return norm(c) + 2 * linear(c, c) + depth * transformerBlockParams(c, ctx);
}

export function unetParamCount(u: UnetConfig): number {
  const c0 = u.blockChannels[0]!;
  const temb = 4 * c0;
  let n = conv(u.inChannels, c0, 3) + linear(c0, temb) + linear(temb, temb);
  if (u.addition) {
    n += linear(u.addition.textEmbedsDim + u.addition.timeIds * u.addition.timeEmbedDim, temb) + linear(temb, temb);
  }
  const blocks = u.blockChannels.length;
  let prev = c0;
  const skips = [c0];
  for (let b = 0; b < blocks; b++) {
    const out = u.blockChannels[b]!;
    for (let l = 0; l < u.layersPerBlock; l++) {
      n += resnetParams(l === 0 ? prev : out, out, temb);
      if (u.transformerDepth[b]! > 0) n += transformer2dParams(out, u.transformerDepth[b]!, u.contextDim);
      skips.push(out);
    }
    if (b < blocks - 1) {
      n += conv(out, out, 3);
      skips.push(out);
    }
    prev = out;
  }
  const mid = u.blockChannels[blocks - 1]!;
  n += 2 * resnetParams(mid, mid, temb) + transformer2dParams(mid, u.midTransformerDepth, u.contextDim);
  for (let b = 0; b < blocks; b++) {
    const out = u.blockChannels[blocks - 1 - b]!;
    const depth = u.transformerDepth[blocks - 1 - b]!;
    for (let l = 0; l <= u.layersPerBlock; l++) {
      const skip = skips.pop()!;
      n += resnetParams(prev + skip, out, temb);
      if (depth > 0) n += transformer2dParams(out, depth, u.contextDim);
      prev = out;
    }
    if (b < blocks - 1) n += conv(out, out, 3);
  }
  return n + norm(c0) + conv(c0, u.outChannels, 3);
}

export function textEncoderParamCount(t: TextEncoderConfig): number {
  const layer = 2 * norm(t.dim) + 4 * linear(t.dim, t.dim) + linear(t.dim, t.mlpDim) + linear(t.mlpDim, t.dim);
  const n = t.vocabSize * t.dim + t.positions * t.dim + t.layers * layer + norm(t.dim);
  return n + (t.projectionDim ? linear(t.dim, t.projectionDim, false) : 0);
}

export function vaeDecoderParamCount(v: VaeDecoderConfig): number {
  const top = v.blockChannels[v.blockChannels.length - 1]!;
  let n = conv(v.latentChannels, v.latentChannels, 1) + conv(v.latentChannels, top, 3);
  n += 2 * resnetParams(top, top, undefined) + norm(top) + 4 * linear(top, top);
  let prev = top;
  const reversed = [...v.blockChannels].reverse();
  reversed.forEach((out, b) => {
    for (let l = 0; l <= v.layersPerBlock; l++) {
      n += resnetParams(l === 0 ? prev : out, out, undefined);
    }
    if (b < reversed.length - 1) n += conv(out, out, 3);
    prev = out;
  });
  return n + norm(v.blockChannels[0]!) + conv(v.blockChannels[0]!, 3, 3);
}
