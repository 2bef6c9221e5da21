import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { EngineInputError } from '../../../src/engine/errors.ts';
import { generate, generateBatch } from '../../../src/engine/pipelines/generate.ts';
import { batchKey } from '../../../src/engine/pipelines/text-to-image.ts';
import type { ControlNetInput, GenerationRequest } from '../../../src/engine/pipelines/request.ts';
import type { LoadedModel } from '../../../src/engine/models/loaded-model.ts';
import { SCHEDULER_NAMES } from '../../../src/engine/schedulers/index.ts';
import { disposeAll, meanAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

/** A PNG, black, with a white square from `from` to `to` pixels on both axes. */
async function squarePng(size: number, from: number, to: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(size * size * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) raw.fill(255, 3 * (y * size + x), 3 * (y * size + x) + 3);
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

const control = async (over: Partial<ControlNetInput> = {}): Promise<ControlNetInput> => ({
  name: 'canny',
  image: await squarePng(64, 16, 48),
  preprocessor: 'canny',
  weight: 1,
  ...over,
});

const first = async (model: LoadedModel, req: GenerationRequest) => (await generate(model, req))[0]!.pixels;

/** Counts the runs of `session` and the batch of each. */
function spy(session: { runKeeping: (...args: never[]) => unknown }): number[] {
  const batches: number[] = [];
  const run = session.runKeeping.bind(session) as (feeds: Record<string, { dims: number[] }>, ...rest: unknown[]) => unknown;
  (session as { runKeeping: unknown }).runKeeping = (feeds: Record<string, { dims: number[] }>, ...rest: unknown[]) => {
    batches.push(feeds['sample']!.dims[0]!);
    return run(feeds, ...rest);
  };
  return batches;
}

test('the ControlNet-ready UNet without a ControlNet, or with one at weight 0, draws the plain UNet picture bit for bit', async () => {
  const plain = await tinyModel('tiny-sd1');
  const ready = await tinyModel('tiny-sd1-controlnet');
  assert.deepEqual(ready.info.controlNets, ['canny']);
  const settings = { steps: 4, seed: 9 };
  const reference = await first(plain, request(plain, settings));
  assert.deepEqual(await first(ready, request(ready, settings)), reference, 'zero residuals');
  assert.deepEqual(await first(ready, request(ready, { ...settings, controlnets: [await control({ weight: 0 })] })), reference, 'weight 0');
  const steered = await first(ready, request(ready, { ...settings, controlnets: [await control()] }));
  assert.ok(meanAbsDiff(steered, reference) > 1e-3, 'weight 1 changes the picture');
});

test('the ControlNet runs once per UNet call on the whole guidance batch, and its control image reaches the picture', async () => {
  const model = await tinyModel('tiny-sd1-controlnet');
  const cn = await model.controlNet('canny');
  const batches = spy(cn as never);
  const unetBatches = spy(model.unet as never);
  try {
    const req = request(model, { steps: 3, numOutputs: 2, guidance: 7.5, scheduler: 'euler', controlnets: [await control()] });
    const a = await generate(model, req);
    assert.equal(unetBatches.length, 3);
    assert.deepEqual(batches, [4, 4, 4], 'uncond + cond rows of both images');
    const other = await generate(model, { ...req, controlnets: [await control({ image: await squarePng(64, 4, 28) })] });
    assert.ok(meanAbsDiff(a[0]!.pixels, other[0]!.pixels) > 1e-3, 'another control image, another picture');
    const none = await generate(model, { ...req, controlnets: [await control({ image: await squarePng(64, 4, 28), preprocessor: 'none' })] });
    assert.ok(meanAbsDiff(none[0]!.pixels, other[0]!.pixels) > 1e-3, "'none' feeds the image itself, not its edges");
    batches.length = 0;
    await generate(model, { ...req, guidance: 1 });
    assert.deepEqual(batches, [2, 2, 2], 'without guidance, one row per image');
    // PNDM repeats a timestep (4 UNet calls for 3 steps): one ControlNet run for each UNet call.
    batches.length = 0;
    unetBatches.length = 0;
    await generate(model, { ...req, scheduler: 'pndm' });
    assert.equal(batches.length, unetBatches.length);
  } finally {
    delete (cn as { runKeeping?: unknown }).runKeeping;
    delete (model.unet as { runKeeping?: unknown }).runKeeping;
  }
});

test('start/end limit the steps the ControlNet acts on', async () => {
  const model = await tinyModel('tiny-sd1-controlnet');
  const base = request(model, { steps: 4, seed: 3 });
  const plain = await first(model, base);
  const always = await first(model, { ...base, controlnets: [await control()] });
  const late = await first(model, { ...base, controlnets: [await control({ start: 0.5 })] });
  assert.ok(meanAbsDiff(late, plain) > 1e-4 && meanAbsDiff(late, always) > 1e-4);
});

test('every scheduler runs with a ControlNet', async () => {
  const model = await tinyModel('tiny-sd1-controlnet');
  const c = await control();
  for (const scheduler of SCHEDULER_NAMES) {
    const px = await first(model, request(model, { steps: 2, scheduler, controlnets: [c] }));
    assert.ok(px.every(Number.isFinite), scheduler);
  }
});

test('image-to-image takes a ControlNet', async () => {
  const model = await tinyModel('tiny-sd1-controlnet');
  const init = await squarePng(64, 8, 40);
  const base = request(model, { steps: 4, initImage: init, strength: 0.6 });
  const plain = await first(model, base);
  const steered = await first(model, { ...base, controlnets: [await control()] });
  assert.ok(meanAbsDiff(plain, steered) > 1e-4);
});

test('a batch shares a ControlNet set; each output equals its own run', async () => {
  const model = await tinyModel('tiny-sd1-controlnet');
  const a = request(model, { steps: 3, seed: 1, controlnets: [await control()] });
  const b = request(model, { steps: 3, seed: 2, controlnets: [await control({ image: await squarePng(64, 0, 20) })] });
  assert.equal(batchKey(model, a), batchKey(model, b));
  assert.notEqual(batchKey(model, a), batchKey(model, request(model, { steps: 3 })), 'with and without a ControlNet do not batch');
  assert.notEqual(batchKey(model, a), batchKey(model, { ...a, controlnets: [await control({ weight: 0.5 })] }), 'another weight does not batch');
  const [ba, bb] = await generateBatch(model, [a, b]);
  assert.deepEqual(ba![0]!.pixels, await first(model, a));
  assert.deepEqual(bb![0]!.pixels, await first(model, b));
});

test('bad ControlNet requests are refused naming the field', async () => {
  const ready = await tinyModel('tiny-sd1-controlnet');
  const plain = await tinyModel('tiny-sd1');
  const refused = async (model: LoadedModel, c: Partial<ControlNetInput>, field: string, words: RegExp, extra: Partial<GenerationRequest> = {}) => {
    await assert.rejects(generate(model, request(model, { steps: 1, ...extra, controlnets: [await control(c)] })), (err: unknown) => {
      assert.ok(err instanceof EngineInputError, String(err));
      assert.equal(err.field, field);
      assert.match(err.message, words);
      return true;
    });
  };
  await refused(ready, { name: 'depth' }, 'controlnets[0].name', /no ControlNet "depth".*canny/);
  await refused(plain, {}, 'controlnets[0].name', /model tiny-sd1 has no ControlNets/);
  await refused(ready, { preprocessor: 'openpose' as never }, 'controlnets[0].preprocessor', /"openpose" is not served/);
  await refused(ready, { weight: 2.5 }, 'controlnets[0].weight', /between 0 and 2/);
  await refused(ready, { start: 0.8, end: 0.2 }, 'controlnets[0].start', /start < end/);
  await refused(ready, { image: new Uint8Array([1, 2, 3]) }, 'controlnets[0].image', /controlnets\[0\]\.image/);
  await refused(ready, {}, 'controlnets', /not to inpainting/, { initImage: await squarePng(64, 0, 8), mask: await squarePng(64, 0, 8) });
});
