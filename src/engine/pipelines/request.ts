/** What a caller asks the engine for, and what it gets back. */
import type { PromptSyntax } from '../prompts/weighting.ts';
import type { NoiseKind } from '../random.ts';
import type { SchedulerName } from '../schedulers/index.ts';

export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string;
  width: number;
  height: number;
  steps: number;
  /** Classifier-free guidance scale; <= 1 skips the unconditional pass. */
  guidance: number;
  scheduler: SchedulerName;
  /**
   * DDIM's eta (diffusers' `step(eta=)`): 0 (the default) is deterministic DDIM, 1 adds DDPM's variance as fresh noise
   * at every step. Only the ddim scheduler takes it; the others refuse a non-zero eta.
   */
  eta?: number;
  /** Seed of the first output; output k uses seed + k (mod 2^32). */
  seed: number;
  numOutputs: number;
  /** Encoded PNG/JPEG/WebP bytes; resized (center-cropped) to width x height. */
  initImage?: Uint8Array;
  /** How much of the init image to repaint, 0..1: 1 ignores the image, small values keep it. */
  strength?: number;
  /** Encoded mask image: white (or transparent, with maskSource 'alpha') marks the area to repaint. */
  mask?: Uint8Array;
  maskSource?: 'luminance' | 'alpha';
  /** Seamless textures: the model's convolutions wrap around the image edges. */
  tiling?: boolean;
  /** LoRA adapters (by installed name) merged into the model's weights at these weights. */
  loras?: { name: string; weight: number }[];
  /** How the prompts are read: A1111's weights, escapes and BREAK (the default), or every character as text. */
  promptSyntax?: PromptSyntax;
  /** Where the seeded noise comes from: Darkroom's own generator (the default), or PyTorch's CPU one, for diffusers' pictures. */
  noise?: NoiseKind;
  /**
   * A1111's hires fix: draw at width x height, upscale each image `scale` times (Lanczos), then an
   * image-to-image pass at that target size with `strength` (and `steps`, default the request's).
   */
  hires?: HiresOptions;
  /** ControlNets of the model's folder (controlnet/<name>/), each steering the UNet with its control image. */
  controlnets?: ControlNetInput[];
}

export type ControlPreprocessor = 'canny' | 'none';

export interface ControlNetInput {
  /** Folder name under the model's controlnet/. */
  name: string;
  /** Encoded PNG/JPEG/WebP bytes; resized (center-cropped) to width x height. */
  image: Uint8Array;
  /** How the image becomes a control map: Canny edges, or 'none' when it already is one. */
  preprocessor: ControlPreprocessor;
  /** Scale of its residuals (diffusers' controlnet_conditioning_scale); 0 leaves the picture as without it. */
  weight: number;
  /** Fraction of the steps it acts over (diffusers' control_guidance_start/end), default 0..1. */
  start?: number;
  end?: number;
}

export interface HiresOptions {
  scale: number;
  strength: number;
  steps?: number;
}

export interface PreviewImage {
  pixels: Float32Array;
  width: number;
  height: number;
}

export interface Progress {
  /** 1-based denoising step just finished, out of total. */
  step: number;
  total: number;
  /** Decodes the current latents of output `image` of the batch, default the first (costs one VAE decode; call only when shown). */
  preview: (image?: number) => Promise<PreviewImage>;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Awaited between steps, so a slow consumer (preview rendering, publishing) slows the loop instead of piling up. */
  onProgress?: (progress: Progress) => void | Promise<void>;
  /** Steps the device loop runs per call (pipelines/device-loop.ts): progress, previews and cancellation come between calls. */
  progressEvery?: number;
}

export interface GeneratedImage {
  seed: number;
  width: number;
  height: number;
  /** RGB, channel-major (CHW), values in [-1, 1]. Encode with image.ts encodeImage. */
  pixels: Float32Array;
  /** The model's safety checker flagged it (its pixels are then black); absent when no checker ran. */
  nsfw?: boolean;
}
