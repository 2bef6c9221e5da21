/**
 * Picks the pipeline a request needs: a mask means inpainting, an init image image-to-image, hires a
 * text-to-image draft redrawn larger; tiling swaps in the wrap-around twin.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import { checkRequest } from './check-request.ts';
import { hires } from './hires.ts';
import { imageToImage } from './image-to-image.ts';
import { inpaint } from './inpaint.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { batchKey, textToImage, textToImageBatch } from './text-to-image.ts';
import { EngineInputError } from '../errors.ts';

export async function generate(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  checkRequest(model, req);
  const m = req.tiling ? await model.withTiling() : model;
  if (req.mask) return inpaint(m, req, options);
  if (req.initImage) return imageToImage(m, req, options);
  if (req.hires) return hires(m, req, options);
  return textToImage(m, req, options);
}

/**
 * Several requests as one denoising batch (dynamic batching): they must share a batchKey; each output
 * equals the one its request would get alone.
 */
export async function generateBatch(model: LoadedModel, reqs: readonly GenerationRequest[], options: RunOptions = {}): Promise<GeneratedImage[][]> {
  if (reqs.length === 1) return [await generate(model, reqs[0]!, options)];
  for (const req of reqs) checkRequest(model, req);
  const key = batchKey(model, reqs[0]!);
  if (key === undefined || reqs.some((r) => batchKey(model, r) !== key)) {
    throw new EngineInputError('batch', 'only text-to-image requests with the same size, steps, scheduler, tiling and kind of guidance can share a batch');
  }
  const m = reqs[0]!.tiling ? await model.withTiling() : model;
  return textToImageBatch(m, reqs, options);
}
