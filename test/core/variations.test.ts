/**
 * The unzoom canvas and the universal upscaler's creativity mapping (core/variations.ts): the image
 * shrunk by 1 / (1 + amount) sits opaque in the centre of a canvas of its own size whose border is
 * transparent (the inpainting mask), and creativityStrength 1-10 maps to strengths 0.05-0.5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { creativityStrength, unzoomCanvas } from '../../src/core/variations.ts';

test('unzoomCanvas: the shrunk image centred and opaque, the border transparent, the size kept', async () => {
  const red = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const png = await unzoomCanvas(red, 96, 64, 0.5);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [96, 64, 4]);
  const alpha = (x: number, y: number) => data[(y * info.width + x) * 4 + 3]!;
  const red_ = (x: number, y: number) => data[(y * info.width + x) * 4]!;
  // 96 x 64 / 1.5 = 64 x 43, placed at (16, 10).
  let opaque = 0;
  for (let y = 0; y < 64; y++) for (let x = 0; x < 96; x++) if (alpha(x, y) === 255) opaque++;
  assert.equal(opaque, 64 * 43);
  assert.deepEqual([alpha(15, 32), alpha(16, 32), alpha(79, 32), alpha(80, 32)], [0, 255, 255, 0]);
  assert.deepEqual([alpha(48, 9), alpha(48, 10), alpha(48, 52), alpha(48, 53)], [0, 255, 255, 0]);
  assert.equal(red_(48, 32), 255);
});

test('creativityStrength: 1-10 maps to image-to-image strengths 0.05-0.5, the default 5 to 0.25', () => {
  assert.deepEqual([1, 5, 10].map(creativityStrength), [0.05, 0.25, 0.5]);
});
