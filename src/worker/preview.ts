/** Live previews: the image a generation has so far, small, as a JPEG data URL that travels on the event bus. */
import sharp from 'sharp';
import { chwToRgb } from '../engine/image.ts';
import type { PreviewImage } from '../engine/pipelines/request.ts';

/** Longest side of a preview, in pixels: enough to watch, small enough to publish every few steps. */
export const PREVIEW_MAX_SIDE = 256;

export async function previewDataUrl(image: PreviewImage): Promise<string> {
  const jpeg = await sharp(chwToRgb(image.pixels, image.width, image.height), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize({ width: PREVIEW_MAX_SIDE, height: PREVIEW_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 70 })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
