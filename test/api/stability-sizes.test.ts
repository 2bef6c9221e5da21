/** Stability's aspect ratios → sizes: the shape nearest the ratio that the model can draw, at about its native pixel count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASPECT_RATIOS, sizeForAspect, type AspectRatio } from '../../src/api/stability/sizes.ts';
import { checkRequestFor } from '../../src/engine/pipelines/check-request.ts';
import type { CatalogModel } from '../../src/core/models.ts';
import { fakeManifest } from '../helpers/core.ts';

const model = (over: Parameters<typeof fakeManifest>[0]) => ({ manifest: fakeManifest(over) }) as CatalogModel;
const ratio = (a: AspectRatio) => a.split(':').map(Number).reduce((w, h) => w / h);

/** The default model as shipped (models/darkroom-demo/darkroom.json): 256 x 256 native, 128-512. */
const DEMO = model({ defaults: { width: 256, height: 256, steps: 20, guidance: 7, scheduler: 'euler_a' }, minSize: 128, maxSize: 512 });
const SDXL = model({ defaults: { width: 1024, height: 1024, steps: 30, guidance: 5, scheduler: 'euler' }, minSize: 512, maxSize: 2048 });

for (const [name, m] of [['the default model (demo)', DEMO], ['an SDXL-like model', SDXL]] as const) {
  test(`${name}: every ratio is a size the engine accepts, within 5 % of the shape, at about the native pixel count`, () => {
    const { width: dw, height: dh } = m.manifest.defaults;
    for (const a of ASPECT_RATIOS) {
      const { width, height } = sizeForAspect(a, m);
      const at = `${a}: ${width}x${height}`;
      assert.doesNotThrow(() => checkRequestFor({ manifest: m.manifest, imageToImage: true }, { prompt: 'x', width, height, steps: 10, guidance: 5, scheduler: 'euler', seed: 1, numOutputs: 1 }), at);
      assert.ok(Math.abs(Math.log(width / height / ratio(a))) <= 0.05, at);
      assert.ok(Math.abs(Math.log((width * height) / (dw * dh))) <= Math.log(1.35), at);
      assert.deepEqual(sizeForAspect(a.split(':').reverse().join(':') as AspectRatio, m), { width: height, height: width }, `${a} mirrored`);
    }
  });
}

test('the default model: 16:9 is no longer 1.6:1, and 1:1 is its native 256 x 256', () => {
  assert.deepEqual(sizeForAspect('1:1', DEMO), { width: 256, height: 256 });
  assert.deepEqual(sizeForAspect('16:9', DEMO), { width: 352, height: 192 });
  assert.deepEqual(sizeForAspect('21:9', DEMO), { width: 448, height: 192 });
  assert.deepEqual(sizeForAspect('3:2', DEMO), { width: 288, height: 192 });
});

test("SDXL: SDXL's own sizes, in multiples of 64", () => {
  const expected: Record<string, string> = { '21:9': '1536x640', '16:9': '1344x768', '3:2': '1280x832', '5:4': '1152x896', '1:1': '1024x1024' };
  for (const [a, size] of Object.entries(expected)) {
    const s = sizeForAspect(a as AspectRatio, SDXL);
    assert.equal(`${s.width}x${s.height}`, size, a);
  }
});

test('never above 1536 a side, nor outside the model', () => {
  const big = model({ defaults: { width: 2048, height: 2048, steps: 30, guidance: 5, scheduler: 'euler' }, minSize: 512, maxSize: 4096 });
  for (const a of ASPECT_RATIOS) {
    const s = sizeForAspect(a, big);
    assert.ok(s.width <= 1536 && s.height <= 1536 && s.width >= 512 && s.height >= 512, `${a}: ${JSON.stringify(s)}`);
  }
});

test('a model that cannot draw 320 px gets its shape within its own range, on a finer grid', () => {
  const m = model({ defaults: { width: 64, height: 64, steps: 10, guidance: 7, scheduler: 'euler' }, minSize: 32, maxSize: 256 });
  const s = sizeForAspect('16:9', m);
  assert.ok(s.width <= 256 && s.height <= 256 && s.width % 8 === 0 && s.height % 8 === 0, JSON.stringify(s));
  assert.ok(Math.abs(s.width / s.height - 16 / 9) / (16 / 9) < 0.05, JSON.stringify(s));
});
