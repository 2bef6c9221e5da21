/**
 * A1111's hires fix: the composition is drawn at the base size the model knows best, then each image
 * is upscaled (Lanczos, as the init image of image-to-image is resized) and redrawn at the target size
 * by an image-to-image pass that adds the detail. Output k keeps its own seed through both passes, so
 * the result equals base → upscale → image-to-image run by hand with the same seeds.
 */
import { encodeImage } from '../image.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { hiresSize } from './check-request.ts';
import { imageToImage } from './image-to-image.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './request.ts';
import { textToImage } from './text-to-image.ts';

export async function hires(model: LoadedModel, req: GenerationRequest, options: RunOptions = {}): Promise<GeneratedImage[]> {
  const { hires: h, ...base } = req;
  if (!h) throw new Error('hires needs its options');

  // 1. Draw at the base size.
  const drafts = await textToImage(model, base, options);

  // 2. Each draft, losslessly encoded, is the init image of a pass at the target size (decoding resizes it with Lanczos).
  const target = hiresSize(req, h.scale);
  const out: GeneratedImage[] = [];
  for (const draft of drafts) {
    const initImage = await encodeImage(draft.pixels, draft.width, draft.height, 'png');
    const pass = { ...base, ...target, initImage, strength: h.strength, steps: h.steps ?? req.steps, seed: draft.seed, numOutputs: 1 };
    out.push(...(await imageToImage(model, pass, options)));
  }
  return out;
}
