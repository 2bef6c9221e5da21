/** tools/bench/loop.ts on a tiny model: both loops run, their pictures agree, and each row carries its ratio. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopBench } from '../../tools/bench/loop.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

test('the loop bench times the per-step and the device loop on one folder, with the ratio and the pixel difference', async () => {
  const logs: string[] = [];
  const result = await loopBench({
    model: await testModelDir('tiny-sd1'),
    provider: 'cpu',
    images: [1, 2],
    size: 64,
    steps: 4,
    scheduler: 'euler_a',
    guidance: 7.5,
    runs: 1,
    perCall: 3,
    fuse: false,
    log: (m) => logs.push(m),
  });
  assert.deepEqual(result.rows.map((r) => r.images), [1, 2]);
  for (const r of result.rows) {
    assert.ok(r.perStep.medianMs > 0 && r.deviceLoop.medianMs > 0);
    assert.equal(r.ratio, Math.round((r.deviceLoop.medianMs / r.perStep.medianMs) * 1000) / 1000);
    assert.ok(r.maxPixelDiff <= 2e-3, `pictures differ by ${r.maxPixelDiff}`);
  }
  assert.ok(logs.some((m) => /device loop: .*devloop-v2-cfg\.onnx runs the denoising loop/.test(m)), logs.join('\n'));
});
