/** Picks the pipeline a request needs: a mask means inpainting, an init image image-to-image. */
import type { LoadedModel } from '../models/loaded-model.ts';
import { imageToImage } from './image-to-image.ts';
import { inpaint } from './inpaint.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { textToImage } from './text-to-image.ts';

export function generate(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  if (req.mask) return inpaint(model, req, options);
  if (req.initImage) return imageToImage(model, req, options);
  return textToImage(model, req, options);
}
