import { controlNetRuns } from '../controlnet/prepare.ts';
import { checkRequest } from './check-request.ts';
import { decodeOutputs, latentShape, outputNoise, outputSeeds, previewDecoder, scaled, scheduler, usesUnconditionalPass } from './common.ts';
import { denoise, throwIfCancelled } from './denoise.ts';
import { encodeConditioning, promptChunkCount } from './prompt.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { BatchNoise } from '../random.ts';
import { EngineInputError } from '../errors.ts';
import { staticFeeds, type BatchPart } from './unet-feeds.ts';
import { fullMaskChannels } from './inpaint.ts';

export function textToImage(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  return textToImageBatch(model, [req], options).then((r) => r[0]!);
}

/**
 * Requests with equal keys can share one denoising batch (dynamic batching): same size, steps,
 * scheduler, tiling, and the same kind of guidance (both or neither with an unconditional pass, so each
 * image's arithmetic is exactly that of its single run), and prompts of as many 75-token chunks (the
 * text states of one UNet call have one length), and the same ControlNets at the same weights (their
 * control maps may differ). Image-to-image, inpainting and hires run alone.
 */
export function batchKey(model: LoadedModel, req: GenerationRequest): string | undefined {
  if (req.initImage || req.mask || req.hires) return undefined;
  const guided = usesUnconditionalPass(model, req.guidance);
  const chunks = `${promptChunkCount(model, req, guided)}-chunk`;
  const control = (req.controlnets ?? []).map((c) => `${c.name}:${c.weight}:${c.start ?? 0}-${c.end ?? 1}`).join('+');
  return [model.id, req.width, req.height, req.steps, req.scheduler, guided ? 'cfg' : 'cond', req.tiling ? 'tiled' : 'plain', chunks, control].join('/');
}

/** Several text-to-image requests in one denoising batch; returns each request's images, in order. */
export async function textToImageBatch(model: LoadedModel, reqs: readonly GenerationRequest[], options: RunOptions = {}): Promise<GeneratedImage[][]> {
  // 1. Check inputs: every rule for each request, then that they can share a batch.
  for (const req of reqs) checkRequest(model, req);
  const first = reqs[0]!;
  const key = batchKey(model, first);
  if (reqs.some((r) => batchKey(model, r) !== key)) throw new EngineInputError('batch', 'requests in one batch must share size, steps, scheduler and kind of guidance');

  // 2. Call parameters: one seed per output, the latent shape, whether guidance needs an unconditional pass.
  const seeds = reqs.flatMap(outputSeeds);
  const shape = latentShape(model, { ...first, numOutputs: seeds.length });
  const guided = usesUnconditionalPass(model, first.guidance);

  // 3. Encode each request's prompt (and negative prompt when guidance is on).
  const parts: BatchPart[] = [];
  for (const req of reqs) {
    const cond = await encodeConditioning(model, req, guided);
    parts.push({ cond, images: req.numOutputs, guidance: req.guidance });
  }
  const text = staticFeeds(model, parts, first.width, first.height);
  const controlNets = await controlNetRuns(model, reqs, text.batch / seeds.length);

  // 4. Prepare timesteps.
  const sched = scheduler(model, first);

  // 5. Prepare latents: seeded noise per output, scaled to the scheduler's starting noise level.
  const noise = new BatchNoise(seeds, shape.channels * shape.height * shape.width, reqs.flatMap(outputNoise));
  const latents = scaled(noise.next(), sched.initNoiseSigma);
  const extraChannels = model.isInpaintingUnet ? await fullMaskChannels(model, shape) : undefined;

  // 6. Denoising loop.
  const denoised = await denoise({
    model,
    scheduler: sched,
    timesteps: sched.timesteps,
    steps: first.steps,
    latents,
    shape,
    text,
    noise,
    extraChannels,
    decodePreview: previewDecoder(model, shape),
    options,
    controlNets,
  });

  // 7. Decode latents to images, and hand each request its own.
  throwIfCancelled(options.signal);
  const images = await decodeOutputs(model, denoised, shape, seeds);
  let k = 0;
  return reqs.map((r) => images.slice(k, (k += r.numOutputs)));
}
