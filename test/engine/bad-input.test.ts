import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineInputError, ModelFormatError, ModelNotFoundError, SchedulerNotOfferedError } from '../../src/engine/errors.ts';
import { checkRequestFor, checkServedRequest } from '../../src/engine/pipelines/check-request.ts';
import { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { ModelRegistry } from '../../src/engine/models/registry.ts';
import { textToImage } from '../../src/engine/pipelines/text-to-image.ts';
import { makeBrokenModel } from '../../tools/test-models/make.ts';
import { fakeManifest } from '../helpers/core.ts';
import { disposeAll, request, tinyModel } from './helpers.ts';

const dirs: string[] = [];
after(async () => {
  await disposeAll();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function broken(kind: Parameters<typeof makeBrokenModel>[1]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-broken-'));
  dirs.push(dir);
  await makeBrokenModel(join(dir, kind), kind);
  return join(dir, kind);
}

test('a model folder without its UNet is refused, naming the missing file', async () => {
  const dir = await broken('missing-unet');
  await assert.rejects(readModelFolder(dir), (err: Error) => err instanceof ModelFormatError && /unet\/model\.onnx/.test(err.message));
});

test('a UNet with the wrong input names is refused, listing what it has', async () => {
  const dir = await broken('wrong-input-names');
  await assert.rejects(
    async () => LoadedModel.load(await readModelFolder(dir), { provider: 'cpu' }),
    (err: Error) => err instanceof ModelFormatError && /has no input "sample"/.test(err.message) && /latents/.test(err.message),
  );
});

test('an invalid model_index.json is refused, naming the file', async () => {
  const dir = await broken('bad-model-index');
  await assert.rejects(readModelFolder(dir), /model_index\.json is not valid JSON/);
});

test('an unknown model id lists the models there are', async () => {
  const reg = new ModelRegistry([]);
  await assert.rejects(reg.resolve('nope'), (err: Error) => err instanceof ModelNotFoundError && /"nope" not found/.test(err.message));
});

test('each request rule names its field', async () => {
  const model = await tinyModel('tiny-sd1');
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ width: 60 }, 'width', /multiple of 8/],
    [{ height: 1000 }, 'height', /between 32 and 256/],
    [{ strength: 1.5, initImage: new Uint8Array([1]) }, 'strength', /between 0 and 1/],
    [{ strength: -0.1, initImage: new Uint8Array([1]) }, 'strength', /between 0 and 1/],
    [{ scheduler: 'warp_drive' }, 'scheduler', /unknown scheduler "warp_drive"/],
    [{ steps: 0 }, 'steps', /steps/],
    [{ numOutputs: 9 }, 'numOutputs', /1 to 8/],
    [{ seed: -1 }, 'seed', /0\.\.4294967295/],
    [{ guidance: 99 }, 'guidance', /guidance/],
    [{ mask: new Uint8Array([1]) }, 'mask', /init image/],
    [{ noise: 'torch-cuda' }, 'noise', /unknown noise "torch-cuda" \(known: darkroom, torch-cpu\)/],
  ];
  for (const [input, field, message] of cases) {
    await assert.rejects(
      textToImage(model, { ...request(model), ...input } as never),
      (err: Error) => err instanceof EngineInputError && err.field === field && message.test(err.message),
      `${field}: ${JSON.stringify(input)}`,
    );
  }
});

test('an init image that is not an image is refused with a clear message', async () => {
  const model = await tinyModel('tiny-sd1');
  const { imageToImage } = await import('../../src/engine/pipelines/image-to-image.ts');
  await assert.rejects(
    imageToImage(model, request(model, { initImage: new TextEncoder().encode('not a png'), strength: 0.5 })),
    (err: Error) => err instanceof EngineInputError && err.field === 'initImage' && /cannot be decoded/.test(err.message),
  );
});

test('a served request must use a scheduler the model offers; the engine itself runs any it has', () => {
  const model = { manifest: fakeManifest({ schedulers: ['euler', 'ddim'] }), imageToImage: true };
  const req = { prompt: 'x', width: 512, height: 512, steps: 10, guidance: 5, scheduler: 'lcm' as const, seed: 1, numOutputs: 1 };
  assert.doesNotThrow(() => checkRequestFor(model, req));
  assert.throws(
    () => checkServedRequest(model, req),
    (err: Error) => err instanceof SchedulerNotOfferedError && err.field === 'scheduler' && err.message === 'model fake-sd1 does not offer scheduler "lcm" (it offers euler, ddim)',
  );
  assert.doesNotThrow(() => checkServedRequest(model, { ...req, scheduler: 'ddim' }));
});
