/** Picks the pipeline a request needs: a mask means inpainting, an init image image-to-image; tiling swaps in the wrap-around twin. */
import type { LoadedModel } from '../models/loaded-model.ts';
import { checkRequest } from './check-request.ts';
import { imageToImage } from './image-to-image.ts';
import { inpaint } from './inpaint.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { textToImage } from './text-to-image.ts';

export async function generate(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  checkRequest(model, req);
  const m = req.tiling ? await model.withTiling() : model;
  if (req.mask) return inpaint(m, req, options);
  if (req.initImage) return imageToImage(m, req, options);
  return textToImage(m, req, options);
}
