/**
 * The device loop (pipelines/device-loop.ts: the denoising loop as one ONNX Loop graph per K steps) makes
 * the JS loop's pictures, on CPU, through the real pipelines: the same model folder loaded twice, with
 * DARKROOM_DEVICE_LOOP's "on" and "off", must give the same images within float32 rounding, for every
 * scheduler with a coefficient table, at batch 1 and 2, two guidance values, image-to-image, the UNet
 * input variants (int64 [1] and float [batch] timesteps, v-prediction, float16, SDXL's extra inputs,
 * LCM's guidance embedding); and runs the device loop cannot take keep the JS loop, and say why.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { LoadedModel, type LoadOptions } from '../../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../../src/engine/models/model-folder.ts';
import { imageToImage } from '../../../src/engine/pipelines/image-to-image.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { inpaint } from '../../../src/engine/pipelines/inpaint.ts';
import type { GeneratedImage, GenerationRequest } from '../../../src/engine/pipelines/request.ts';
import { GenerationCancelledError } from '../../../src/engine/errors.ts';
import { testModelDir } from '../../../tools/test-models/cache.ts';
import type { TestModelVariant } from '../../../tools/test-models/variants.ts';
import { request } from '../helpers.ts';

interface Pair {
  on: LoadedModel;
  off: LoadedModel;
  logs: string[];
}

const pairs = new Map<string, Promise<Pair>>();
after(async () => {
  for (const p of pairs.values()) {
    const { on, off } = await p;
    await Promise.all([on.dispose(), off.dispose()]);
  }
});

/** The model loaded with the device loop on (its log kept) and off. */
function pair(variant: TestModelVariant | 'darkroom-demo'): Promise<Pair> {
  let p = pairs.get(variant);
  if (!p) {
    p = (async () => {
      const dir = variant === 'darkroom-demo' ? new URL('../../../models/darkroom-demo', import.meta.url).pathname : await testModelDir(variant);
      const info = await readModelFolder(dir);
      const logs: string[] = [];
      const base: LoadOptions = { provider: 'cpu', threads: 1 };
      const [on, off] = await Promise.all([
        LoadedModel.load(info, { ...base, deviceLoop: 'on', log: (m) => logs.push(m) }),
        LoadedModel.load(info, { ...base, deviceLoop: 'off' }),
      ]);
      return { on, off, logs };
    })();
    pairs.set(variant, p);
  }
  return p;
}

/** Largest difference between the two runs' pixels, relative to the largest pixel (VAE outputs are about ±1). */
function worst(a: GeneratedImage[], b: GeneratedImage[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((img, k) => img.pixels.forEach((v, i) => (m = Math.max(m, Math.abs(v - b[k]!.pixels[i]!)))));
  return m;
}

type Run = (model: LoadedModel, req: GenerationRequest) => Promise<GeneratedImage[]>;

async function same(variant: TestModelVariant | 'darkroom-demo', input: Partial<GenerationRequest>, run: Run = textToImage): Promise<Pair> {
  const p = await pair(variant);
  const req = { ...request(p.on, { steps: 6 }), ...input } as GenerationRequest;
  const before = p.logs.length;
  const [a, b] = [await run(p.on, req), await run(p.off, req)];
  const diff = worst(a, b);
  assert.ok(diff <= 2e-3, `${variant} ${req.scheduler} x${req.numOutputs} g${req.guidance}: pixels differ by ${diff}`);
  assert.ok(a.every((img) => img.pixels.every(Number.isFinite)));
  const refused = p.logs.slice(before).filter((m) => m.includes('keeps the JS loop'));
  assert.deepEqual(refused, [], 'the device loop took the run');
  return p;
}

test('the device loop gives the JS loop\'s pictures: every tabled scheduler, batch 1 and 2, two guidance values (tiny SD 1.x, int64 [1] timestep)', async () => {
  for (const scheduler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'dpmpp_2m_sde'] as const) {
    for (const numOutputs of [1, 2]) for (const guidance of [7.5, 3]) await same('tiny-sd1', { scheduler, numOutputs, guidance, seed: 7 });
  }
  const { logs } = await pair('tiny-sd1');
  assert.ok(logs.some((m) => /device loop: .*model\.devloop-v2-cfg\.onnx runs the denoising loop/.test(m)), logs.join('\n'));
});

test('the device loop without an unconditional pass (guidance 1), and DDIM with eta > 0 (noise at every step)', async () => {
  await same('tiny-sd1', { scheduler: 'euler_a', numOutputs: 2, guidance: 1 });
  await same('tiny-sd1', { scheduler: 'ddim', eta: 0.7, numOutputs: 2, guidance: 6 });
  const { logs } = await pair('tiny-sd1');
  assert.ok(logs.some((m) => /model\.devloop-v2-plain\.onnx runs the denoising loop/.test(m)));
});

test('the device loop on v-prediction with a float [batch] timestep and external weights (tiny SD 2.x), image-to-image too', async () => {
  for (const scheduler of ['euler', 'dpmpp_2m_karras', 'ddim'] as const) await same('tiny-sd2-v', { scheduler, numOutputs: 2, guidance: 6 });
  const init = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
  for (const scheduler of ['ddim', 'euler_a', 'dpmpp_2m'] as const) {
    await same('tiny-sd2-v', { scheduler, initImage: init, strength: 0.6, numOutputs: 2, guidance: 5 }, imageToImage);
  }
});

test('the device loop on a float16 UNet, SDXL\'s extra UNet inputs and LCM\'s guidance embedding', async () => {
  await same('tiny-sd1-fp16', { scheduler: 'euler', numOutputs: 2, guidance: 7.5 });
  await same('tiny-sdxl', { scheduler: 'euler_a', numOutputs: 2, guidance: 5 });
  for (const numOutputs of [1, 2]) await same('tiny-lcm', { scheduler: 'lcm', steps: 4, numOutputs, guidance: 1.5 });
});

test('the demo model (an exported UNet of 1548 nodes) draws the same picture with the device loop', async () => {
  await same('darkroom-demo', { scheduler: 'euler_a', numOutputs: 2, guidance: 7, width: 128, height: 128, steps: 8 });
  await same('darkroom-demo', { scheduler: 'dpmpp_2m_karras', numOutputs: 1, guidance: 4, width: 128, height: 128, steps: 8 });
});

test('runs the device loop cannot take keep the JS loop, say why, and draw what the JS loop draws', async () => {
  const p = await pair('tiny-sd1');
  for (const scheduler of ['heun', 'lms', 'pndm', 'unipc', 'ddpm'] as const) {
    const req = request(p.on, { scheduler, steps: 4, numOutputs: 2 });
    assert.equal(worst(await textToImage(p.on, req), await textToImage(p.off, req)), 0, scheduler);
  }
  assert.ok(p.logs.some((m) => m === 'device loop: HeunScheduler has no coefficient table; this run keeps the JS loop'), p.logs.join('\n'));
  const inpainting = await pair('tiny-sd1-inpaint');
  const white = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
  const init = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 10, g: 200, b: 40 } } }).png().toBuffer();
  const req = request(inpainting.on, { scheduler: 'euler', steps: 4, initImage: init, mask: white });
  assert.equal(worst(await inpaint(inpainting.on, req), await inpaint(inpainting.off, req)), 0);
  assert.ok(inpainting.logs.some((m) => m.includes("an inpainting UNet's extra input channels")), inpainting.logs.join('\n'));
});

test('progress, previews and cancellation come between calls of K steps; the previews are the JS loop\'s', async () => {
  const { on, off } = await pair('tiny-sd1');
  const previews = async (model: LoadedModel) => {
    const out = new Map<number, Float32Array>();
    await textToImage(model, request(model, { scheduler: 'euler', steps: 7, numOutputs: 2 }), {
      progressEvery: 3,
      onProgress: async (p) => void out.set(p.step, (await p.preview(1)).pixels),
    });
    return out;
  };
  const [device, js] = [await previews(on), await previews(off)];
  assert.deepEqual([...device.keys()], [3, 6, 7]);
  for (const [step, pixels] of device) {
    const d = worst([{ pixels } as GeneratedImage], [{ pixels: js.get(step)! } as GeneratedImage]);
    assert.ok(d <= 2e-3, `preview at step ${step} differs by ${d}`);
  }
  const controller = new AbortController();
  await assert.rejects(
    textToImage(on, request(on, { scheduler: 'euler', steps: 7 }), { progressEvery: 2, signal: controller.signal, onProgress: () => controller.abort() }),
    GenerationCancelledError,
  );
});

test('auto is off on CPU: a model loaded without the setting runs the JS loop', async () => {
  const info = await readModelFolder(await testModelDir('tiny-sd1'));
  const logs: string[] = [];
  const model = await LoadedModel.load(info, { provider: 'cpu', threads: 1, log: (m) => logs.push(m) });
  try {
    await textToImage(model, request(model, { scheduler: 'euler', steps: 3 }));
    assert.ok(!logs.some((m) => m.startsWith('device loop')), logs.join('\n'));
  } finally {
    await model.dispose();
  }
});
