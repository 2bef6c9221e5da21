import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeImage } from '../../../src/engine/image.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { generate } from '../../../src/engine/pipelines/generate.ts';
import { SCHEDULER_NAMES } from '../../../src/engine/schedulers/index.ts';
import { GenerationCancelledError } from '../../../src/engine/errors.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

test('text-to-image draws numOutputs images of the asked size, one seed each', async () => {
  const model = await tinyModel('tiny-sd1');
  const images = await textToImage(model, request(model, { width: 64, height: 48, numOutputs: 3, steps: 4 }));
  assert.equal(images.length, 3);
  assert.deepEqual(
    images.map((i) => i.seed),
    [42, 43, 44],
  );
  for (const img of images) {
    assert.equal(img.width, 64);
    assert.equal(img.height, 48);
    assert.equal(img.pixels.length, 3 * 64 * 48);
    assert.ok(img.pixels.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
  }
  assert.ok(meanAbsDiff(images[0]!.pixels, images[1]!.pixels) > 0.01, 'different seeds give different images');
});

test('same seed and settings give byte-identical PNGs; another seed does not', async () => {
  const model = await tinyModel('tiny-sd1');
  const run = async (seed: number) => {
    const [img] = await textToImage(model, request(model, { seed, steps: 5, scheduler: 'euler_a' }));
    return encodeImage(img!.pixels, img!.width, img!.height, 'png');
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.ok(a.equals(b), 'same seed, same bytes');
  assert.ok(!a.equals(c), 'other seed, other bytes');
});

test('output k of a batch equals the single image made with seed + k', async () => {
  const model = await tinyModel('tiny-sd1');
  for (const scheduler of ['euler_a', 'dpmpp_2m'] as const) {
    const batch = await textToImage(model, request(model, { seed: 100, numOutputs: 3, steps: 4, scheduler }));
    const single = await textToImage(model, request(model, { seed: 102, numOutputs: 1, steps: 4, scheduler }));
    assert.equal(batch[2]!.seed, 102);
    const diff = maxAbsDiff(batch[2]!.pixels, single[0]!.pixels);
    // Same bytes once quantised to 8 bits: at most rounding noise from batched kernels.
    assert.ok(diff < 1 / 255, `${scheduler}: max pixel difference ${diff}`);
  }
});

test('the prompt and the negative prompt change the image; guidance <= 1 skips the unconditional pass', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = request(model, { steps: 4 });
  const [a] = await textToImage(model, base);
  const [b] = await textToImage(model, { ...base, prompt: 'a green square' });
  const [c] = await textToImage(model, { ...base, negativePrompt: 'blue' });
  assert.ok(meanAbsDiff(a!.pixels, b!.pixels) > 1e-3);
  assert.ok(meanAbsDiff(a!.pixels, c!.pixels) > 1e-3);
  let batches: number[] = [];
  const unet = model.unet;
  const original = unet.runKeeping.bind(unet);
  unet.runKeeping = async (feeds, names, k) => {
    batches.push(feeds['sample']!.dims[0]!);
    return original(feeds, names, k);
  };
  try {
    await textToImage(model, { ...base, guidance: 1, numOutputs: 2 });
    assert.deepEqual(new Set(batches), new Set([2]), 'guidance 1: only the conditional pass');
    batches = [];
    await textToImage(model, { ...base, guidance: 7, numOutputs: 2 });
    assert.deepEqual(new Set(batches), new Set([4]), 'guidance 7: both passes in one batch');
  } finally {
    unet.runKeeping = original;
  }
});

test('every scheduler runs end to end and is deterministic', async () => {
  const model = await tinyModel('tiny-sd1');
  for (const scheduler of SCHEDULER_NAMES) {
    const req = request(model, { scheduler, steps: 4, seed: 5 });
    const [a] = await textToImage(model, req);
    const [b] = await textToImage(model, req);
    assert.ok(a!.pixels.every(Number.isFinite), `${scheduler}: finite`);
    assert.equal(maxAbsDiff(a!.pixels, b!.pixels), 0, `${scheduler}: deterministic`);
  }
});

test('progress arrives once per step, in order, with a preview; an abort stops between steps', async () => {
  const model = await tinyModel('tiny-sd1');
  const seen: number[] = [];
  let preview: { width: number; height: number; pixels: Float32Array } | undefined;
  await textToImage(model, request(model, { steps: 6, scheduler: 'heun' }), {
    onProgress: async (p) => {
      seen.push(p.step);
      assert.equal(p.total, 6);
      if (p.step === 3) preview = await p.preview();
    },
  });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], 'Heun: 11 UNet calls, 6 steps');
  assert.equal(preview?.width, 64);
  const pndm: string[] = [];
  await textToImage(model, request(model, { steps: 3, scheduler: 'pndm' }), { onProgress: (p) => void pndm.push(`${p.step}/${p.total}`) });
  assert.deepEqual(pndm, ['1/3', '2/3', '3/3'], 'PNDM repeats a timestep, still 3 steps');
  const i2i: string[] = [];
  const { imageToImage } = await import('../../../src/engine/pipelines/image-to-image.ts');
  const init = await encodeImage(new Float32Array(3 * 64 * 64), 64, 64, 'png');
  await imageToImage(model, request(model, { steps: 10, strength: 0.5, initImage: init, scheduler: 'euler' }), {
    onProgress: (p) => void i2i.push(`${p.step}/${p.total}`),
  });
  assert.deepEqual(i2i, ['1/5', '2/5', '3/5', '4/5', '5/5'], 'strength 0.5 of 10 steps runs 5');
  assert.equal(preview?.pixels.length, 3 * 64 * 64);

  const controller = new AbortController();
  const steps: number[] = [];
  await assert.rejects(
    textToImage(model, request(model, { steps: 10 }), {
      signal: controller.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 3) controller.abort();
      },
    }),
    GenerationCancelledError,
  );
  assert.deepEqual(steps, [1, 2, 3]);
});

test('generate() dispatches text-to-image without an init image', async () => {
  const model = await tinyModel('tiny-sd1');
  const req = request(model, { steps: 3 });
  const [a] = await generate(model, req);
  const [b] = await textToImage(model, req);
  assert.equal(maxAbsDiff(a!.pixels, b!.pixels), 0);
});
