import { checkRequest } from './check-request.ts';
import { decodeOutputs, latentShape, outputSeeds, previewDecoder, scaled, scheduler, usesUnconditionalPass } from './common.ts';
import { denoise, throwIfCancelled } from './denoise.ts';
import { encodeConditioning } from './prompt.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { BatchNoise } from '../random.ts';
import { staticFeeds } from './unet-feeds.ts';

export async function textToImage(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  // 1. Check inputs: every rule, before any model work.
  checkRequest(model, req);

  // 2. Call parameters: one seed per output, the latent shape, whether guidance needs an unconditional pass.
  const seeds = outputSeeds(req);
  const shape = latentShape(model, req);
  const guided = usesUnconditionalPass(model, req.guidance);

  // 3. Encode the prompt (and the negative prompt when guidance is on).
  const cond = await encodeConditioning(model, req.prompt, req.negativePrompt ?? '', guided);
  const text = staticFeeds(model, cond, shape.images, req.width, req.height, req.guidance);

  // 4. Prepare timesteps.
  const sched = scheduler(model, req);

  // 5. Prepare latents: seeded noise per output, scaled to the scheduler's starting noise level.
  const noise = new BatchNoise(seeds, shape.channels * shape.height * shape.width);
  const latents = scaled(noise.next(), sched.initNoiseSigma);

  // 6. Denoising loop.
  const denoised = await denoise({
    model,
    scheduler: sched,
    timesteps: sched.timesteps,
    steps: req.steps,
    latents,
    shape,
    text,
    guidance: req.guidance,
    noise,
    decodePreview: previewDecoder(model, shape),
    options,
  });

  // 7. Decode latents to images.
  throwIfCancelled(options.signal);
  return decodeOutputs(model, denoised, shape, seeds);
}
