/**
 * Model folders as exporters write them (tools/test-models/exports.ts: optimum's layouts, no
 * darkroom.json) load with their own configs and run: the scheduler config's class is the default
 * sampler, model_index.json's pipeline the family, the refiner's and the inpainting UNet's inputs are
 * fed as diffusers feeds them, the folder's safety checker runs, vae/config.json's factors apply.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Engine } from '../../../src/engine/engine.ts';
import { EngineInputError } from '../../../src/engine/errors.ts';
import { inferManifest } from '../../../src/engine/models/infer.ts';
import { LoadedModel } from '../../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../../src/engine/models/model-folder.ts';
import { stepsFor } from '../../../src/engine/models/optimized.ts';
import { schedulerForConfig } from '../../../src/engine/models/scheduler-class.ts';
import { withDefaults } from '../../../src/engine/pipelines/defaults.ts';
import { generate } from '../../../src/engine/pipelines/generate.ts';
import { encodeImage } from '../../../src/engine/pipelines/vae.ts';
import { decodeImage } from '../../../src/engine/image.ts';
import { isFlagged } from '../../../src/engine/safety/checker.ts';
import { writeSafetyChecker } from '../../../tools/test-models/exports.ts';
import { exportModelDir as cachedExport } from '../../../tools/test-models/cache.ts';

const scratch = await mkdtemp(join(tmpdir(), 'darkroom-exports-'));
const models: LoadedModel[] = [];
after(async () => {
  for (const m of models) await m.dispose();
  await rm(scratch, { recursive: true, force: true });
});

async function load(dir: string, safetyChecker?: boolean): Promise<LoadedModel> {
  const m = await LoadedModel.load(await readModelFolder(dir), { provider: 'cpu', threads: 1, ...(safetyChecker === undefined ? {} : { safetyChecker }) });
  models.push(m);
  return m;
}

/** A copy of an export to change one file of. */
async function copyOf(layout: Parameters<typeof cachedExport>[0], name: string): Promise<string> {
  const dir = join(scratch, name);
  await cp(await cachedExport(layout), dir, { recursive: true });
  return dir;
}

async function png(r: number, g: number, b: number, size = 64): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

test('each export layout reads its defaults from scheduler_config.json and model_index.json', async () => {
  const expect = {
    'export-sd1': { family: 'sd1', scheduler: 'pndm', guidance: 7 },
    'export-sdxl': { family: 'sdxl', scheduler: 'euler', guidance: 5 },
    'export-refiner': { family: 'sdxl', scheduler: 'euler', guidance: 5 },
    'export-inpaint': { family: 'sd1', scheduler: 'pndm', guidance: 7 },
    'export-turbo': { family: 'turbo', scheduler: 'euler', guidance: 0 },
    'export-lcm': { family: 'lcm', scheduler: 'lcm', guidance: 1 },
    'export-tokenizer-json': { family: 'sd1', scheduler: 'pndm', guidance: 7 },
  } as const;
  for (const [layout, want] of Object.entries(expect)) {
    const info = await readModelFolder(await cachedExport(layout as keyof typeof expect));
    assert.equal(info.inferred, true, layout);
    assert.equal(info.manifest.family, want.family, layout);
    assert.equal(info.manifest.defaults.scheduler, want.scheduler, layout);
    assert.equal(info.manifest.defaults.guidance, want.guidance, layout);
    assert.ok(info.manifest.schedulers.includes(want.scheduler), layout);
    assert.deepEqual(info.notes, [], layout);
  }
  const refiner = await readModelFolder(await cachedExport('export-refiner'));
  assert.equal(refiner.refiner, true);
  assert.equal(refiner.manifest.needsInitImage, true);
  assert.match(refiner.components.textEncoder, /text_encoder_2[/\\]model\.onnx$/);
  assert.equal((await readModelFolder(await cachedExport('export-inpaint'))).manifest.inpainting, true);
  const sd1 = await readModelFolder(await cachedExport('export-sd1'));
  assert.ok(sd1.components.safetyChecker && sd1.featureExtractor);
  assert.deepEqual(sd1.featureExtractor, { size: 224, cropSize: 224, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] });
});

test("a scheduler_config.json's class and options pick Darkroom's scheduler; one Darkroom lacks falls back with a note", () => {
  const betas = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' } as const;
  assert.deepEqual(schedulerForConfig({ _class_name: 'DPMSolverMultistepScheduler', ...betas, use_karras_sigmas: true }), { scheduler: 'dpmpp_2m_karras' });
  assert.deepEqual(schedulerForConfig({ _class_name: 'DPMSolverMultistepScheduler', ...betas, algorithm_type: 'sde-dpmsolver++' }), { scheduler: 'dpmpp_2m_sde' });
  for (const [cls, name] of [['EulerAncestralDiscreteScheduler', 'euler_a'], ['DDIMScheduler', 'ddim'], ['LMSDiscreteScheduler', 'lms'], ['HeunDiscreteScheduler', 'heun'], ['UniPCMultistepScheduler', 'unipc'], ['DDPMScheduler', 'ddpm']] as const) {
    assert.deepEqual(schedulerForConfig({ _class_name: cls, ...betas }), { scheduler: name }, cls);
  }
  assert.match(String((schedulerForConfig({ _class_name: 'DPMSolverMultistepScheduler', ...betas, solver_order: 3 }) as { note: string }).note), /solver_order 3/);
  const notes: string[] = [];
  const manifest = inferManifest({ dir: '/m/kdpm', modelIndex: { _class_name: 'StableDiffusionPipeline' }, schedulerConfig: { _class_name: 'KDPM2DiscreteScheduler', ...betas }, hasSecondEncoder: false }, (n) => notes.push(n));
  assert.equal(manifest.defaults.scheduler, 'euler_a');
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /KDPM2DiscreteScheduler.*Darkroom does not have.*euler_a/);
});

test('the engine logs the note when it loads a folder whose scheduler it lacks, and draws with its fallback', async () => {
  const dir = await copyOf('export-sd1', 'kdpm2');
  const config = JSON.parse(await readFile(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ ...config, _class_name: 'KDPM2AncestralDiscreteScheduler' }));
  const log: string[] = [];
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1, log: (m) => log.push(m) });
  try {
    const { request, images } = await engine.generate(dir, { prompt: 'a red circle', seed: 1, steps: 2, width: 64, height: 64 });
    assert.equal(request.scheduler, 'euler_a');
    assert.equal(images.length, 1);
    assert.ok(log.some((m) => /KDPM2AncestralDiscreteScheduler/.test(m)), log.join('\n'));
  } finally {
    await engine.dispose();
  }
});

test('the SDXL refiner layout refuses text-to-image naming the model, and redraws an init image with 5 time ids', async () => {
  const model = await load(await cachedExport('export-refiner'));
  assert.equal(model.unet.input('time_ids')!.shape[1], 5);
  const base = withDefaults(model.info.manifest, { prompt: 'a red circle', seed: 3, steps: 4, width: 64, height: 64 });
  await assert.rejects(generate(model, base), (e: unknown) => e instanceof EngineInputError && e.field === 'initImage' && /export-refiner.*refiner/.test(e.message));
  const [red] = await generate(model, { ...base, initImage: await png(220, 20, 20), strength: 0.3 });
  const [blue] = await generate(model, { ...base, initImage: await png(20, 20, 220), strength: 0.3 });
  assert.equal(red!.pixels.length, 3 * 64 * 64);
  // The init image shows through at low strength: red stays redder than blue.
  const mean = (p: Float32Array, c: number) => p.subarray(c * 4096, (c + 1) * 4096).reduce((a, b) => a + b, 0) / 4096;
  assert.ok(mean(red!.pixels, 0) - mean(red!.pixels, 2) > mean(blue!.pixels, 0) - mean(blue!.pixels, 2));
});

test('an inpainting UNet draws from text (all-ones mask, zero masked image) and from an init image, without a shape error', async () => {
  const model = await load(await cachedExport('export-inpaint'));
  assert.equal(model.isInpaintingUnet, true);
  const base = withDefaults(model.info.manifest, { prompt: 'a red circle', seed: 5, steps: 3, width: 64, height: 64 });
  const [fromText] = await generate(model, base);
  assert.equal(fromText!.pixels.length, 3 * 64 * 64);
  assert.ok(fromText!.pixels.every(Number.isFinite));
  const [fromImage] = await generate(model, { ...base, initImage: await png(220, 20, 20), strength: 0.5 });
  assert.ok(fromImage!.pixels.some((v, i) => v !== fromText!.pixels[i]));
});

test("the folder's safety checker: bright images flagged, flagged outputs black and marked, off when turned off", async () => {
  const sd1 = await readModelFolder(await cachedExport('export-sd1'));
  const model = await load(sd1.dir);
  const session = await (async () => {
    await model.checkSafety([]); // opens the session
    return (model as unknown as { safetyCheckerSession: Promise<import('../../../src/engine/runtime/session.ts').OnnxSession> }).safetyCheckerSession;
  })();
  const image = async (r: number, g: number, b: number) => ({ seed: 0, width: 64, height: 64, pixels: (await decodeImage(await png(r, g, b))).data });
  assert.equal(await isFlagged(session, sd1.featureExtractor!, await image(250, 250, 250)), true, 'a white image is over the test threshold');
  assert.equal(await isFlagged(session, sd1.featureExtractor!, await image(10, 10, 10)), false, 'a black one is not');

  const flagsAll = await copyOf('export-sd1', 'flags-all');
  await writeSafetyChecker(flagsAll, -1e9);
  const req = withDefaults(sd1.manifest, { prompt: 'a red circle', seed: 2, steps: 2, width: 64, height: 64, numOutputs: 2 });
  const strict = await load(flagsAll);
  const checked = await strict.checkSafety(await generate(strict, req));
  assert.deepEqual(checked.map((i) => i.nsfw), [true, true]);
  assert.ok(checked.every((i) => i.pixels.every((v) => v === -1)), 'flagged outputs are black');
  const off = await load(flagsAll, false);
  const unchecked = await off.checkSafety(await generate(off, req));
  assert.deepEqual(unchecked.map((i) => i.nsfw), [undefined, undefined]);
  assert.ok(unchecked[0]!.pixels.some((v) => v !== -1));
});

test("vae/config.json's shift_factor and scaling_factor normalise latents both ways; force_upcast keeps the VAE float32", async () => {
  const plain = await load(await cachedExport('export-sd1'), false);
  const shifted = await copyOf('export-sd1', 'shifted');
  for (const part of ['vae_decoder', 'vae_encoder']) {
    const path = join(shifted, part, 'config.json');
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, scaling_factor: 0.5, shift_factor: 0.25 }));
  }
  const model = await load(shifted, false);
  assert.deepEqual(model.info.vae, { scalingFactor: 0.5, shiftFactor: 0.25, forceUpcast: false });
  const pixels = (await decodeImage(await png(200, 100, 50))).data;
  const a = await encodeImage(plain, pixels, 64, 64);
  const b = await encodeImage(model, pixels, 64, 64);
  const s = plain.info.vae.scalingFactor;
  for (let i = 0; i < a.length; i += 37) assert.ok(Math.abs(b[i]! - (a[i]! / s - 0.25) * 0.5) < 1e-5, `latent ${i}`);

  assert.equal((await readModelFolder(await cachedExport('export-sdxl'))).vae.forceUpcast, true);
  assert.equal(stepsFor('vaeDecoder', true, { fp16: true }).fp16, false);
  assert.equal(stepsFor('vaeDecoder', false, { fp16: true }).fp16, true);
  assert.equal(stepsFor('unet', true, { fp16: true }).fp16, true);
});

