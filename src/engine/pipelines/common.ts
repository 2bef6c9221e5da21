/** Small steps every pipeline takes the same way. */
import { EngineInputError } from '../errors.ts';
import { ImageDecodeError } from '../image.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { seedForOutput, type NoiseKind } from '../random.ts';
import { createScheduler } from '../schedulers/index.ts';
import type { Scheduler } from '../schedulers/types.ts';
import type { GeneratedImage, GenerationRequest, PreviewImage } from './request.ts';
import { decodeLatents } from './vae.ts';
import { usesGuidanceEmbedding } from './unet-feeds.ts';
import type { LatentShape } from './denoise.ts';

export function outputSeeds(req: GenerationRequest): number[] {
  return Array.from({ length: req.numOutputs }, (_, k) => seedForOutput(req.seed, k));
}

/** The noise source of each output (BatchNoise's kinds). */
export function outputNoise(req: GenerationRequest): (NoiseKind | undefined)[] {
  return Array.from({ length: req.numOutputs }, () => req.noise);
}

/** Classifier-free guidance needs a second (unconditional) pass; LCM models take guidance as an input instead. */
export function usesUnconditionalPass(model: LoadedModel, guidance: number): boolean {
  return guidance > 1 && !usesGuidanceEmbedding(model);
}

export function latentShape(model: LoadedModel, req: GenerationRequest): LatentShape {
  const c = model.vaeDecoder.input('latent_sample')?.shape[1];
  return { images: req.numOutputs, channels: typeof c === 'number' ? c : 4, height: req.height / 8, width: req.width / 8 };
}

export function scheduler(model: LoadedModel, req: GenerationRequest): Scheduler {
  const { channels, height, width } = latentShape(model, req);
  const s = createScheduler(req.scheduler, model.info.schedulerConfig, {
    ...(req.eta === undefined ? {} : { eta: req.eta }),
    valuesPerImage: channels * height * width,
  });
  s.setTimesteps(req.steps);
  return s;
}

export function scaled(x: Float32Array, factor: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * factor;
  return out;
}

export function previewDecoder(model: LoadedModel, shape: LatentShape) {
  return async (latents: Float32Array): Promise<PreviewImage> => {
    const [pixels] = await decodeLatents(model, latents, 1, shape.height, shape.width);
    return { pixels: pixels!, width: shape.width * 8, height: shape.height * 8 };
  };
}

export async function decodeOutputs(model: LoadedModel, latents: Float32Array, shape: LatentShape, seeds: number[]): Promise<GeneratedImage[]> {
  const pixels = await decodeLatents(model, latents, shape.images, shape.height, shape.width);
  return pixels.map((p, k) => ({ seed: seeds[k]!, width: shape.width * 8, height: shape.height * 8, pixels: p }));
}

/**
 * Image-to-image starts part-way down the schedule: strength s keeps the last floor(steps * s) steps
 * (diffusers' get_timesteps), so small strengths keep the image and 1 redraws it.
 */
export function keptSteps(steps: number, strength: number): number {
  return Math.min(Math.floor(steps * strength), steps);
}

export function truncatedTimesteps(s: Scheduler, steps: number, strength: number): readonly number[] {
  const begin = Math.max(steps - keptSteps(steps, strength), 0) * s.order;
  s.setBeginIndex(begin);
  return s.timesteps.slice(begin);
}

/** Decodes a caller's image, turning "not an image" into an input error on the field it came in. */
export async function readInputImage<T>(field: 'initImage' | 'mask', decode: () => Promise<T>): Promise<T> {
  try {
    return await decode();
  } catch (err) {
    if (err instanceof ImageDecodeError) throw new EngineInputError(field, `${field}: ${err.message}`);
    throw err;
  }
}
