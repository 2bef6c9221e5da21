/** Stability's aspect ratios → sizes: the model's pixel count in that shape, multiples of 64 within 320-1536 and the model's range. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASPECT_RATIOS, sizeForAspect } from '../../src/api/stability/sizes.ts';
import type { CatalogModel } from '../../src/core/models.ts';
import { fakeManifest } from '../helpers/core.ts';

const model = (over: Parameters<typeof fakeManifest>[0]) => ({ manifest: fakeManifest(over) }) as CatalogModel;

test('SD 1.x (512 default, up to 1024): every ratio near 512 x 512 pixels, in bounds, shaped right', () => {
  const m = model({ defaults: { width: 512, height: 512, steps: 20, guidance: 7, scheduler: 'euler' }, minSize: 256, maxSize: 1024 });
  assert.deepEqual(sizeForAspect('1:1', m), { width: 512, height: 512 });
  for (const a of ASPECT_RATIOS) {
    const { width, height } = sizeForAspect(a, m);
    const [rw, rh] = a.split(':').map(Number) as [number, number];
    assert.equal(width % 64, 0, a);
    assert.equal(height % 64, 0, a);
    assert.ok(width >= 320 && height >= 320 && width <= 1024 && height <= 1024, `${a}: ${width}x${height}`);
    assert.ok(Math.abs(width / height - rw / rh) / (rw / rh) < 0.2, `${a}: ${width}x${height}`);
  }
});

test('SDXL (1024 default): 1:1 is 1024 x 1024, 16:9 is 1344 x 768', () => {
  const m = model({ defaults: { width: 1024, height: 1024, steps: 30, guidance: 5, scheduler: 'euler' }, minSize: 512, maxSize: 2048 });
  assert.deepEqual(sizeForAspect('1:1', m), { width: 1024, height: 1024 });
  assert.deepEqual(sizeForAspect('16:9', m), { width: 1344, height: 768 });
  assert.deepEqual(sizeForAspect('21:9', m), { width: 1536, height: 640 });
});

test('a model that cannot draw 320 px gets its shape within its own range', () => {
  const m = model({ defaults: { width: 64, height: 64, steps: 10, guidance: 7, scheduler: 'euler' }, minSize: 32, maxSize: 256 });
  const s = sizeForAspect('16:9', m);
  assert.ok(s.width <= 256 && s.height <= 256 && s.width > s.height, JSON.stringify(s));
});
