import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeImage, encodeImage } from '../../../src/engine/image.ts';
import { imageToImage } from '../../../src/engine/pipelines/image-to-image.ts';
import { inpaint } from '../../../src/engine/pipelines/inpaint.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from '../helpers.ts';
import type { Feed } from '../../../src/engine/runtime/session.ts';

after(disposeAll);

/** Left half red, right half blue: a layout the tiny VAE keeps at low strength. */
async function twoTone(width: number, height: number): Promise<Buffer> {
  const half = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      half[o] = x < width / 2 ? 220 : 20;
      half[o + 2] = x < width / 2 ? 20 : 220;
    }
  return sharp(half, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** White (repaint) on the right half only. */
async function rightHalfMask(width: number, height: number): Promise<Buffer> {
  const m = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = width / 2; x < width; x++) m[y * width + x] = 255;
  return sharp(m, { raw: { width, height, channels: 1 } }).png().toBuffer();
}

test('image-to-image: small strength keeps the init image, large strength departs from it', async () => {
  const model = await tinyModel('tiny-sd1');
  const init = await twoTone(64, 64);
  const target = (await decodeImage(init, { width: 64, height: 64 })).data;
  const base = request(model, { initImage: init, steps: 10, scheduler: 'ddim' });
  const [low] = await imageToImage(model, { ...base, strength: 0.1 });
  const [high] = await imageToImage(model, { ...base, strength: 0.9 });
  const dLow = meanAbsDiff(low!.pixels, target);
  const dHigh = meanAbsDiff(high!.pixels, target);
  assert.ok(dLow < dHigh / 2, `strength 0.1 stays near the image (${dLow.toFixed(3)}) vs 0.9 (${dHigh.toFixed(3)})`);
});

test('image-to-image at strength 1 ignores the image: equals text-to-image with the same seed', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = request(model, { steps: 5 });
  const [i2i] = await imageToImage(model, { ...base, initImage: await twoTone(64, 64), strength: 1 });
  const [t2i] = await textToImage(model, base);
  assert.equal(maxAbsDiff(i2i!.pixels, t2i!.pixels), 0);
});

test('image-to-image resizes the init image to the target size, with every scheduler family', async () => {
  const model = await tinyModel('tiny-sd2-v'); // latent_parameters VAE, int64 ids, external-data UNet
  const init = await twoTone(200, 120);
  for (const scheduler of ['euler', 'heun', 'dpmpp_2m', 'unipc', 'lms', 'pndm', 'ddim'] as const) {
    const [img] = await imageToImage(model, request(model, { initImage: init, strength: 0.5, steps: 6, scheduler, width: 64, height: 48 }));
    assert.equal(img!.width, 64);
    assert.equal(img!.height, 48);
    assert.ok(img!.pixels.every(Number.isFinite), scheduler);
  }
});

test('inpainting with latent blending repaints the mask and keeps the rest', async () => {
  const model = await tinyModel('tiny-sd1');
  assert.equal(model.isInpaintingUnet, false);
  const init = await twoTone(64, 64);
  const target = (await decodeImage(init, { width: 64, height: 64 })).data;
  const [img] = await inpaint(model, request(model, { initImage: init, mask: await rightHalfMask(64, 64), steps: 8 }));
  const side = (pixels: Float32Array, right: boolean) => {
    const out: number[] = [];
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 64; y++) for (let x = right ? 40 : 0; x < (right ? 64 : 24); x++) out.push(pixels[c * 4096 + y * 64 + x]!);
    return Float32Array.from(out);
  };
  const keptDiff = meanAbsDiff(side(img!.pixels, false), side(target, false));
  const paintedDiff = meanAbsDiff(side(img!.pixels, true), side(target, true));
  assert.ok(paintedDiff > 2 * keptDiff, `masked side changed (${paintedDiff.toFixed(3)}) more than the kept side (${keptDiff.toFixed(3)})`);
  assert.ok(keptDiff < 0.15, `latent blending keeps the unmasked side (${keptDiff.toFixed(3)})`);
});

// A random-weight inpainting UNet has not learnt to keep the unmasked area (a trained one has), so this
// checks what the pipeline owns: the 9-channel input [latents, mask, masked-image latents] and that the image matters.
test('inpainting UNet gets latents + mask + masked-image latents, and the init image shapes the result', async () => {
  const model = await tinyModel('tiny-sd1-inpaint');
  assert.equal(model.isInpaintingUnet, true);
  const seenMasks: Float32Array[] = [];
  const original = model.unet.runKeeping.bind(model.unet);
  model.unet.runKeeping = async (f, n, k) => {
    const dims = f['sample']!.dims;
    assert.equal(dims[1], 9);
    const hw = dims[2]! * dims[3]!;
    seenMasks.push(((f['sample'] as Feed).data as Float32Array).slice(4 * hw, 5 * hw));
    return original(f, n, k);
  };
  try {
    const base = request(model, { mask: await rightHalfMask(64, 64), steps: 4 });
    const [a] = await inpaint(model, { ...base, initImage: await twoTone(64, 64) });
    const [b] = await inpaint(model, { ...base, initImage: await twoTone(64, 64).then((png) => sharp(png).negate().toBuffer()) });
    assert.ok(meanAbsDiff(a!.pixels, b!.pixels) > 1e-3, 'the masked image reaches the UNet');
  } finally {
    model.unet.runKeeping = original;
  }
  const mask = seenMasks[0]!;
  assert.equal(mask.length, 64);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) assert.equal(mask[y * 8 + x], x >= 4 ? 1 : 0, `mask at ${x},${y}`);
});

test('inpainting takes an alpha mask (transparent = repaint) as OpenAI edits do', async () => {
  const model = await tinyModel('tiny-sd1');
  const init = await twoTone(64, 64);
  const rgba = Buffer.alloc(64 * 64 * 4, 255);
  for (let y = 0; y < 64; y++) for (let x = 32; x < 64; x++) rgba[(y * 64 + x) * 4 + 3] = 0;
  const alphaMask = await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } }).png().toBuffer();
  const base = request(model, { initImage: init, steps: 4 });
  const [fromAlpha] = await inpaint(model, { ...base, mask: alphaMask, maskSource: 'alpha' });
  const [fromLuma] = await inpaint(model, { ...base, mask: await rightHalfMask(64, 64) });
  assert.equal(maxAbsDiff(fromAlpha!.pixels, fromLuma!.pixels), 0);
  assert.ok((await encodeImage(fromAlpha!.pixels, 64, 64, 'png')).length > 0);
});
