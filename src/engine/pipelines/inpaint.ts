import { decodeImage, decodeMask, downsampleMask } from '../image.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { BatchNoise } from '../random.ts';
import { checkRequest } from './check-request.ts';
import {
  decodeOutputs,
  latentShape,
  outputNoise,
  outputSeeds,
  previewDecoder,
  readInputImage,
  scaled,
  scheduler,
  keptSteps,
  truncatedTimesteps,
  usesUnconditionalPass,
} from './common.ts';
import { denoise, throwIfCancelled, type LatentShape } from './denoise.ts';
import { encodeConditioning } from './prompt.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { concatChannels, repeatBatch } from './tensors.ts';
import { staticFeeds } from './unet-feeds.ts';
import { encodeImage } from './vae.ts';

/**
 * Repaints the masked area of an init image. A dedicated inpainting UNet (9 input channels) sees the
 * mask and the masked image at every step; a plain UNet gets latent blending instead: after each step
 * the unmasked area is reset to the init image noised to the next step's level (diffusers' legacy path).
 */
export async function inpaint(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  // 1. Check inputs.
  checkRequest(model, req);
  if (!req.initImage || !req.mask) throw new Error('inpaint needs an init image and a mask');
  const strength = req.strength ?? 1;

  // 2. Call parameters.
  const seeds = outputSeeds(req);
  const shape = latentShape(model, req);
  const pixels = shape.height * shape.width;
  const guided = usesUnconditionalPass(model, req.guidance);

  // 3. Encode the prompt.
  const cond = await encodeConditioning(model, req, guided);
  const text = staticFeeds(model, [{ cond, images: shape.images, guidance: req.guidance }], req.width, req.height);

  // 4. Prepare timesteps (strength < 1 starts part-way, as image-to-image does).
  const sched = scheduler(model, req);
  const timesteps = strength >= 1 ? sched.timesteps : truncatedTimesteps(sched, req.steps, strength);

  // 5. Prepare the image, the binarised mask (1 = repaint) and their latents.
  const image = await readInputImage('initImage', () => decodeImage(req.initImage!, { width: req.width, height: req.height }));
  const source = req.maskSource ?? 'luminance';
  const mask = binarize(await readInputImage('mask', () => decodeMask(req.mask!, req.width, req.height, { source })));
  const latentMask = binarize(downsampleMask(mask, req.width, req.height, 8));
  const imageLatents = repeatBatch(await encodeImage(model, image.data, req.width, req.height), shape.images);

  // 6. Prepare latents: pure noise at full strength, else the noised init image.
  const noise = new BatchNoise(seeds, shape.channels * pixels, outputNoise(req));
  const initialNoise = noise.next();
  let latents: Float32Array;
  if (strength >= 1) latents = scaled(initialNoise, sched.initNoiseSigma);
  else if (timesteps.length === 0) latents = imageLatents;
  else latents = sched.addNoise(imageLatents, initialNoise, timesteps[0]!);

  // 7. Condition the UNet on the mask (inpainting UNet) or blend the known area back after each step.
  let extraChannels: { data: Float32Array; channels: number } | undefined;
  let afterStep: ((x: Float32Array, i: number) => Float32Array) | undefined;
  if (model.isInpaintingUnet) {
    const masked = new Float32Array(image.data.length);
    const hw = req.width * req.height;
    for (let i = 0; i < masked.length; i++) masked[i] = mask[i % hw]! >= 0.5 ? 0 : image.data[i]!;
    extraChannels = await maskChannels(model, shape, latentMask, masked, req.width, req.height);
  } else {
    afterStep = (x, i) => {
      const known = i < timesteps.length - 1 ? sched.addNoise(imageLatents, initialNoise, timesteps[i + 1]!) : imageLatents;
      const out = new Float32Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const m = latentMask[j % pixels]!;
        out[j] = m * x[j]! + (1 - m) * known[j]!;
      }
      return out;
    };
  }

  // 8. Denoising loop.
  const denoised = await denoise({
    model,
    scheduler: sched,
    timesteps,
    steps: strength >= 1 ? req.steps : keptSteps(req.steps, strength),
    latents,
    shape,
    text,
    noise,
    extraChannels,
    afterStep,
    decodePreview: previewDecoder(model, shape),
    options,
  });

  // 9. Decode latents to images.
  throwIfCancelled(options.signal);
  return decodeOutputs(model, denoised, shape, seeds);
}

/** An inpainting UNet's channels after the latents, in diffusers' order: the mask, then the masked image's latents. */
async function maskChannels(model: LoadedModel, shape: LatentShape, latentMask: Float32Array, masked: Float32Array, width: number, height: number) {
  const maskedLatents = repeatBatch(await encodeImage(model, masked, width, height), shape.images);
  return {
    channels: 1 + shape.channels,
    data: concatChannels(shape.images, shape.height * shape.width, [
      { data: repeatBatch(latentMask, shape.images), channels: 1 },
      { data: maskedLatents, channels: shape.channels },
    ]),
  };
}

/**
 * Text-to-image on an inpainting UNet: diffusers' inpaint pipeline with an all-white mask, so the mask
 * is all ones and the masked image all zeros (mid-grey), encoded like any masked image.
 */
export function fullMaskChannels(model: LoadedModel, shape: LatentShape): Promise<{ data: Float32Array; channels: number }> {
  const width = shape.width * 8;
  const height = shape.height * 8;
  return maskChannels(model, shape, new Float32Array(shape.height * shape.width).fill(1), new Float32Array(3 * width * height), width, height);
}

function binarize(mask: Float32Array): Float32Array {
  return mask.map((v) => (v >= 0.5 ? 1 : 0));
}
