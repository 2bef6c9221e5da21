import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionValue } from '../../../src/engine/runtime/session.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

test('fp16 model: float16 I/O converted by the runtime, image close to the fp32 twin', async () => {
  const fp16 = await tinyModel('tiny-sd1-fp16');
  const fp32 = await tinyModel('tiny-sd1');
  assert.equal(fp16.unet.input('sample')?.type, 'float16');
  const [a] = await textToImage(fp16, request(fp16, { steps: 4, scheduler: 'ddim' }));
  const [b] = await textToImage(fp32, request(fp32, { steps: 4, scheduler: 'ddim' }));
  assert.ok(a!.pixels.every(Number.isFinite));
  assert.ok(meanAbsDiff(a!.pixels, b!.pixels) < 0.05, `fp16 vs fp32 mean diff ${meanAbsDiff(a!.pixels, b!.pixels)}`);
});

test('SD2 v-prediction: int64 input_ids, float [batch] timestep, external-data UNet', async () => {
  const model = await tinyModel('tiny-sd2-v');
  assert.equal(model.info.manifest.family, 'sd2');
  assert.equal(model.info.schedulerConfig.prediction_type, 'v_prediction');
  assert.equal(model.textEncoder.input('input_ids')?.type, 'int64');
  const images = await textToImage(model, request(model, { steps: 4, numOutputs: 2 }));
  assert.equal(images.length, 2);
  assert.ok(meanAbsDiff(images[0]!.pixels, images[1]!.pixels) > 1e-3);
});

test('SDXL: two text encoders, pooled embeddings and time ids reach the UNet', async () => {
  const model = await tinyModel('tiny-sdxl');
  assert.ok(model.textEncoder2);
  let feeds: string[] = [];
  const original = model.unet.runKeeping.bind(model.unet);
  model.unet.runKeeping = async (f, n, k) => {
    feeds = Object.keys(f).sort();
    assert.deepEqual(f['time_ids']!.dims, [2, 6]);
    assert.deepEqual([...((f['time_ids'] as SessionValue).tensor.data as Float32Array)].slice(0, 6), [48, 64, 0, 0, 48, 64]);
    assert.equal(f['encoder_hidden_states']!.dims[2], 80, 'both encoders concatenated');
    return original(f, n, k);
  };
  try {
    const [img] = await textToImage(model, request(model, { width: 64, height: 48, steps: 3, guidance: 5 }));
    assert.equal(img!.height, 48);
  } finally {
    model.unet.runKeeping = original;
  }
  assert.deepEqual(feeds, ['encoder_hidden_states', 'sample', 'text_embeds', 'time_ids', 'timestep']);
});

test('LCM: guidance goes in as timestep_cond, no unconditional pass, few steps', async () => {
  const model = await tinyModel('tiny-lcm');
  const batches: number[] = [];
  const original = model.unet.runKeeping.bind(model.unet);
  model.unet.runKeeping = async (f, n, k) => {
    batches.push(f['sample']!.dims[0]!);
    return original(f, n, k);
  };
  try {
    const [a] = await textToImage(model, request(model, { guidance: 8, steps: 4, scheduler: 'lcm' }));
    const [b] = await textToImage(model, request(model, { guidance: 2, steps: 4, scheduler: 'lcm' }));
    assert.ok(meanAbsDiff(a!.pixels, b!.pixels) > 1e-4, 'guidance changes the LCM image');
  } finally {
    model.unet.runKeeping = original;
  }
  assert.deepEqual(new Set(batches), new Set([1]));
  await assert.rejects(textToImage(model, request(model, { steps: 20 })), /model tiny-lcm takes at most 8 steps, got 20/);
});

test('turbo: one step, guidance 0 (no unconditional pass), deterministic per seed', async () => {
  const model = await tinyModel('tiny-turbo');
  const req = request(model);
  assert.equal(req.steps, 1);
  assert.equal(req.guidance, 0);
  const [a] = await textToImage(model, req);
  const [b] = await textToImage(model, req);
  assert.equal(maxAbsDiff(a!.pixels, b!.pixels), 0);
});
