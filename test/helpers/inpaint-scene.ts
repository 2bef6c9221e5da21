/**
 * The inpainting scene the dialects' end-to-end tests share, on the demo model: an empty blue
 * canvas, a mask with a white square on the latent grid, and "a large red circle" prompted into it.
 * Inpainted right, the square's area is repainted with a red object and everything a latent cell
 * away from it stays the canvas's VAE round trip (`assertInpainted`).
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { detect } from '../../tools/demo-model/detector.ts';

export const MODEL = 'darkroom-demo';
export const SIZE = 256;
/** The mask's square (white: repaint), on the 8 px latent grid. */
export const BOX = { left: 64, top: 64, size: 128 };
export const BLUE = { r: 20, g: 40, b: 200 };
export const PROMPT = 'a large red circle on a blue background';

export interface Rgb {
  data: Buffer;
  width: number;
  height: number;
}
type Color = { r: number; g: number; b: number };

export function blueCanvas(size = SIZE): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: BLUE } }).png().toBuffer();
}

/** Black with a white square: BOX scaled to a mask of `size`. */
export function squareMask(size = SIZE): Promise<Buffer> {
  const k = size / SIZE;
  const square = { input: { create: { width: BOX.size * k, height: BOX.size * k, channels: 3 as const, background: '#fff' } }, left: BOX.left * k, top: BOX.top * k };
  return sharp({ create: { width: size, height: size, channels: 3, background: '#000' } }).composite([square]).png().toBuffer();
}

/** All black: a mask that repaints nothing, so the answer is the init image's VAE round trip. */
export function blackMask(size = SIZE): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#000' } }).png().toBuffer();
}

/** The image at `url`, as RGB pixels. */
export async function rgbOf(url: string): Promise<Rgb> {
  const { data, info } = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Mean absolute difference from another image of the same size, or from one colour, over the pixels where `where(x, y)`, in 0-255 levels. */
export function meanDiff(a: Rgb, b: Rgb | Color, where: (x: number, y: number) => boolean): number {
  const other = 'data' in b ? (o: number) => b.data[o]! : (o: number) => [b.r, b.g, b.b][o % 3]!;
  let sum = 0;
  let n = 0;
  for (let y = 0; y < a.height; y++)
    for (let x = 0; x < a.width; x++) {
      if (!where(x, y)) continue;
      for (let c = 0; c < 3; c++) {
        const o = (y * a.width + x) * 3 + c;
        sum += Math.abs(a.data[o]! - other(o));
      }
      n += 3;
    }
  return sum / n;
}

/** Outside the box, `margin` px away from it (the VAE decoder blurs across a latent cell); a negative margin is inside. */
export const outside = (margin: number) => (x: number, y: number) =>
  x < BOX.left - margin || x >= BOX.left + BOX.size + margin || y < BOX.top - margin || y >= BOX.top + BOX.size + margin;

/**
 * `img` is `reference` (the canvas's round trip) a latent cell or more outside the box, and repainted
 * well inside it; with `object`, a red object is drawn there (PROMPT).
 */
export function assertInpainted(img: Rgb, reference: Rgb, options: { object?: boolean } = {}): void {
  assert.deepEqual([img.width, img.height], [reference.width, reference.height], 'the answer has the init image size');
  const kept = meanDiff(img, reference, outside(8));
  assert.ok(kept < 2, `outside the mask the image is its VAE round trip, mean difference ${kept.toFixed(2)} levels`);
  const inside = meanDiff(img, reference, (x, y) => !outside(-16)(x, y));
  assert.ok(inside > 40, `the mask's area was repainted (mean difference ${inside.toFixed(1)})`);
  if (options.object === false) return;
  const d = detect(img.data, img.width, img.height);
  assert.equal(d.color, 'red', `a red object in the mask: ${JSON.stringify(d)}`);
}
