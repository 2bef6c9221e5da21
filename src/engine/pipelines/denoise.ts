/**
 * The denoising loop shared by every pipeline: scale → UNet (both guidance passes in one batch)
 * → guidance → scheduler step, with cancellation and progress between steps.
 */
import { controlFor, type Control, type ControlNetRun } from '../controlnet/residuals.ts';
import { GenerationCancelledError } from '../errors.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import type { Scheduler } from '../schedulers/types.ts';
import type { BatchNoise } from '../random.ts';
import type { PreviewImage, RunOptions } from './request.ts';
import { denoiseOnDevice } from './device-loop.ts';
import { concatBatch, concatChannels } from './tensors.ts';
import { timestepFeed, type StaticFeeds } from './unet-feeds.ts';

export interface LatentShape {
  images: number;
  channels: number;
  height: number;
  width: number;
}

export interface DenoiseInput {
  model: LoadedModel;
  scheduler: Scheduler;
  timesteps: readonly number[];
  /** Denoising steps as the user counts them; the timestep list can be longer (Heun doubles it, PNDM repeats one). */
  steps: number;
  latents: Float32Array;
  shape: LatentShape;
  text: StaticFeeds;
  noise: BatchNoise;
  /** Extra UNet input channels after the latents (inpainting UNets: mask + masked-image latents). */
  extraChannels?: { data: Float32Array; channels: number };
  /** Called after each step with the step index, to blend known regions back (legacy inpainting). */
  afterStep?: (latents: Float32Array, index: number) => Float32Array;
  decodePreview: (latents: Float32Array) => Promise<PreviewImage>;
  options: RunOptions;
  /** ControlNets steering the UNet (controlnet/prepare.ts); a ControlNet-ready UNet without any gets zero residuals. */
  controlNets?: readonly ControlNetRun[];
}

export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new GenerationCancelledError();
}

/**
 * The denoising loop: the loop graph's where the device loop is on and takes the run (device-loop.ts), else
 * the JS loop below. One loop of a model runs at a time (LoadedModel.exclusiveUnet): that bounds
 * accelerator memory to one UNet batch, and other requests' text encoding and VAE decoding overlap it.
 */
export function denoise(input: DenoiseInput): Promise<Float32Array> {
  return input.model.exclusiveUnet(async () => (await denoiseOnDevice(input)) ?? denoiseLoop(input));
}

async function denoiseLoop(input: DenoiseInput): Promise<Float32Array> {
  const { model, scheduler, timesteps, shape, text, options } = input;
  const pixels = shape.height * shape.width;
  const cfg = text.batch === 2 * shape.images;
  let latents = input.latents;
  let reported = 0;

  // The text states are the same at every step: convert them to the UNet's input types once (an fp16
  // SD 1.5 batch of 2 is 118k values), not once per step.
  const prepared = Object.fromEntries(Object.entries(text.feeds).map(([name, feed]) => [name, model.unet.prepare(name, feed)]));
  let control: Control | undefined;
  try {
    control = await controlFor(model, input.controlNets ?? [], text.batch, shape, text.feeds);
    for (let i = 0; i < timesteps.length; i++) {
      throwIfCancelled(options.signal);
      const t = timesteps[i]!;
      const scaledLatents = scheduler.scaleModelInput(latents, t);
      let modelInput = scaledLatents;
      if (input.extraChannels) {
        modelInput = concatChannels(shape.images, pixels, [
          { data: modelInput, channels: shape.channels },
          input.extraChannels,
        ]);
      }
      const inChannels = shape.channels + (input.extraChannels?.channels ?? 0);
      const sample = cfg ? concatBatch(modelInput, modelInput) : modelInput;
      // The ControlNet reads the latents alone, without an inpainting UNet's extra channels.
      const residuals = control
        ? await control.residuals(i, timesteps.length, { data: cfg ? concatBatch(scaledLatents, scaledLatents) : scaledLatents, dims: [text.batch, shape.channels, shape.height, shape.width] }, t)
        : {};
      const { host: out } = await model.unet.runKeeping({
        ...prepared,
        ...residuals,
        sample: { data: sample, dims: [text.batch, inChannels, shape.height, shape.width] },
        timestep: timestepFeed(model, t, text.batch),
      });
      const prediction = out['out_sample'] ?? Object.values(out)[0]!;
      const eps = cfg ? applyGuidance(prediction.data, text.guidance) : prediction.data;
      latents = scheduler.step(eps, t, latents, () => input.noise.next());
      if (input.afterStep) latents = input.afterStep(latents, i);

      const step = Math.floor(((i + 1) * input.steps) / timesteps.length);
      if (options.onProgress && step > reported) {
        reported = step;
        const current = latents;
        const tNow = t;
        await options.onProgress({
          step,
          total: input.steps,
          preview: (image = 0) => {
            const per = current.length / shape.images;
            return input.decodePreview(scheduler.scaleModelInput(current, tNow).subarray(image * per, (image + 1) * per));
          },
        });
      }
    }
    return latents;
  } finally {
    for (const value of Object.values(prepared)) value.dispose();
    control?.dispose();
  }
}

/** uncond + g * (cond - uncond) with each image's own g, over a prediction batch laid out [uncond..., cond...]. */
function applyGuidance(prediction: Float32Array, guidance: Float32Array): Float32Array {
  const half = prediction.length / 2;
  const per = half / guidance.length;
  const out = new Float32Array(half);
  for (let k = 0; k < guidance.length; k++) {
    const g = guidance[k]!;
    for (let i = k * per; i < (k + 1) * per; i++) {
      const u = prediction[i]!;
      out[i] = u + g * (prediction[half + i]! - u);
    }
  }
  return out;
}
