/**
 * transformers' CLIPImageProcessor, as diffusers feeds the safety checker: the decoded image as 8-bit
 * RGB (numpy_to_pil's rounding), its shortest side resized bicubically, a centre crop, then rescaled
 * to [0, 1] and normalised per channel with the model's mean and std. Sharp's cubic kernel stands in
 * for PIL's bicubic filter (they differ by a grey level at most here and there; the checker's verdict
 * is a threshold on a similarity, so that is far below what moves it).
 */
import sharp from 'sharp';
import { chwToRgb } from '../image.ts';
import type { FeatureExtractorConfig } from '../models/model-folder.ts';

/** CHW in [-1, 1] at width x height → clip_input [3, crop, crop]. */
export async function clipInput(pixels: Float32Array, width: number, height: number, config: FeatureExtractorConfig): Promise<Float32Array> {
  const scale = config.size / Math.min(width, height);
  // transformers' get_resize_output_image_size: the short side exact, the long one int(side * scale).
  const w = width <= height ? config.size : Math.floor(width * scale);
  const h = width <= height ? Math.floor(height * scale) : config.size;
  const crop = config.cropSize;
  const rgb = await sharp(chwToRgb(pixels, width, height), { raw: { width, height, channels: 3 } })
    .resize(w, h, { kernel: 'cubic', fit: 'fill' })
    .extract({ left: Math.max(0, Math.floor((w - crop) / 2)), top: Math.max(0, Math.floor((h - crop) / 2)), width: Math.min(crop, w), height: Math.min(crop, h) })
    .resize(crop, crop, { fit: 'fill' })
    .raw()
    .toBuffer();
  const n = crop * crop;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) out[c * n + i] = (rgb[3 * i + c]! / 255 - config.mean[c]!) / config.std[c]!;
  }
  return out;
}

/** The `images` input: the output image as NHWC in [0, 1] (batch 1). */
export function nhwcImage(pixels: Float32Array, width: number, height: number): Float32Array {
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = Math.min(1, Math.max(0, (pixels[c * n + i]! + 1) / 2));
  return out;
}
