import { controlNetRuns } from '../controlnet/prepare.ts';
import { decodeImage } from '../image.ts';
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
  scheduler,
  keptSteps,
  truncatedTimesteps,
  usesUnconditionalPass,
} from './common.ts';
import { denoise, throwIfCancelled } from './denoise.ts';
import { encodeConditioning } from './prompt.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { textToImage } from './text-to-image.ts';
import { repeatBatch } from './tensors.ts';
import { staticFeeds } from './unet-feeds.ts';
import { encodeImage } from './vae.ts';
import { fullMaskChannels } from './inpaint.ts';

export const DEFAULT_STRENGTH = 0.8;

export async function imageToImage(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  // 1. Check inputs. Strength 1 repaints everything: exactly text-to-image with the same seed.
  checkRequest(model, req);
  if (!req.initImage) throw new Error('imageToImage needs an init image');
  const strength = req.strength ?? DEFAULT_STRENGTH;
  if (strength >= 1) return textToImage(model, { ...req, initImage: undefined }, options);

  // 2. Call parameters.
  const seeds = outputSeeds(req);
  const shape = latentShape(model, req);
  const guided = usesUnconditionalPass(model, req.guidance);

  // 3. Encode the prompt.
  const cond = await encodeConditioning(model, req, guided);
  const text = staticFeeds(model, [{ cond, images: shape.images, guidance: req.guidance }], req.width, req.height);
  const controlNets = await controlNetRuns(model, [req], text.batch / shape.images);

  // 4. Prepare timesteps: only the last part of the schedule, by strength.
  const sched = scheduler(model, req);
  const timesteps = truncatedTimesteps(sched, req.steps, strength);

  // 5. Encode the init image (resized to the target size) and noise it to the first kept timestep.
  const init = await readInputImage('initImage', () => decodeImage(req.initImage!, { width: req.width, height: req.height }));
  const imageLatents = repeatBatch(await encodeImage(model, init.data, req.width, req.height), shape.images);
  const noise = new BatchNoise(seeds, shape.channels * shape.height * shape.width, outputNoise(req));
  const latents = timesteps.length > 0 ? sched.addNoise(imageLatents, noise.next(), timesteps[0]!) : imageLatents;
  // An inpainting UNet redraws the whole image as diffusers' inpaint pipeline does under an all-white mask.
  const extraChannels = model.isInpaintingUnet ? await fullMaskChannels(model, shape) : undefined;

  // 6. Denoising loop.
  const denoised = await denoise({
    model,
    scheduler: sched,
    timesteps,
    steps: keptSteps(req.steps, strength),
    latents,
    shape,
    text,
    noise,
    extraChannels,
    decodePreview: previewDecoder(model, shape),
    options,
    controlNets,
  });

  // 7. Decode latents to images.
  throwIfCancelled(options.signal);
  return decodeOutputs(model, denoised, shape, seeds);
}
