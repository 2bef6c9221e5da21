import sharp from 'sharp';
import { ImageDecodeError, imageFormatOf } from '../image.ts';
import type { UpscaledImage, Upscaler, UpscalerInfo } from './types.ts';

/** Lanczos-3 resampling: the stand-in until a trained super-resolution model is installed, and labelled so. */
export class LanczosUpscaler implements Upscaler {
  readonly info: UpscalerInfo;

  constructor(scale = 4) {
    this.info = {
      id: `lanczos-${scale}x`,
      name: `Lanczos ${scale}x (resampling, not a super-resolution model)`,
      description: `High-quality Lanczos-3 resampling to ${scale}x the size. It does not invent detail; a trained super-resolution model replaces it when one is installed.`,
      kind: 'resample',
      scale,
    };
  }

  async upscale(image: Uint8Array): Promise<UpscaledImage> {
    if (!imageFormatOf(image)) throw new ImageDecodeError('not a PNG, JPEG or WebP image');
    const meta = await sharp(image).metadata();
    const width = meta.width! * this.info.scale;
    const height = meta.height! * this.info.scale;
    const png = await sharp(image).rotate().resize(width, height, { kernel: 'lanczos3' }).png().toBuffer();
    return { png, width, height };
  }

  async dispose(): Promise<void> {}
}
