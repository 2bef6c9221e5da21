/**
 * The model folder's own safety checker (diffusers' StableDiffusionSafetyChecker, exported to ONNX),
 * run on each output after decoding, one image at a time as diffusers' ONNX pipeline does. A flagged
 * image is blacked out, as diffusers does, and marked `nsfw`; what a client then sees is each
 * dialect's business.
 */
import type { FeatureExtractorConfig } from '../models/model-folder.ts';
import type { OnnxSession } from '../runtime/session.ts';
import type { GeneratedImage } from '../pipelines/request.ts';
import { clipInput, nhwcImage } from './preprocess.ts';

export async function isFlagged(session: OnnxSession, config: FeatureExtractorConfig, image: GeneratedImage): Promise<boolean> {
  const { pixels, width, height } = image;
  const crop = config.cropSize;
  const feeds: Parameters<OnnxSession['run']>[0] = { clip_input: { data: await clipInput(pixels, width, height, config), dims: [1, 3, crop, crop] } };
  if (session.hasInput('images')) feeds['images'] = { data: nhwcImage(pixels, width, height), dims: [1, height, width, 3] };
  const out = await session.run(feeds, ['has_nsfw_concepts']);
  const flags = out['has_nsfw_concepts'];
  if (!flags) throw new Error(`${session.path} has no has_nsfw_concepts output`);
  return flags.data[0] !== 0;
}

/** Each image with its verdict; a flagged one's pixels black (-1 everywhere). */
export async function checkImages(session: OnnxSession, config: FeatureExtractorConfig, images: readonly GeneratedImage[]): Promise<GeneratedImage[]> {
  const out: GeneratedImage[] = [];
  for (const image of images) {
    const nsfw = await isFlagged(session, config, image);
    out.push(nsfw ? { ...image, pixels: new Float32Array(image.pixels.length).fill(-1), nsfw } : { ...image, nsfw });
  }
  return out;
}
