import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineInputError } from '../../../src/engine/errors.ts';
import { generateBatch } from '../../../src/engine/pipelines/generate.ts';
import { batchKey, textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, maxAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

/** Counts UNet rows per call while `work` runs. */
async function unetBatches<T>(model: Awaited<ReturnType<typeof tinyModel>>, work: () => Promise<T>): Promise<{ result: T; rows: number[] }> {
  const rows: number[] = [];
  const original = model.unet.runKeeping.bind(model.unet);
  model.unet.runKeeping = async (f, n, k) => {
    rows.push(f['sample']!.dims[0]!);
    return original(f, n, k);
  };
  try {
    return { result: await work(), rows };
  } finally {
    model.unet.runKeeping = original;
  }
}

for (const [variant, scheduler, guidance] of [
  ['tiny-sd1', 'euler_a', [5, 9, 7.5]],
  ['tiny-sdxl', 'dpmpp_2m', [4, 6, 8]],
  ['tiny-lcm', 'lcm', [1.5, 8, 3]],
] as const) {
  test(`${variant}: different prompts, seeds, guidance and counts in one batch equal their single runs`, async () => {
    const model = await tinyModel(variant);
    const reqs = [
      request(model, { prompt: 'a red circle', seed: 1, numOutputs: 2, guidance: guidance[0], scheduler, steps: 4 }),
      request(model, { prompt: 'a blue square', negativePrompt: 'green', seed: 900, numOutputs: 1, guidance: guidance[1], scheduler, steps: 4 }),
      request(model, { prompt: 'a cat', seed: 4_000_000_000, numOutputs: 1, guidance: guidance[2], scheduler, steps: 4 }),
    ];
    assert.equal(new Set(reqs.map((r) => batchKey(model, r))).size, 1);
    const { result: batched, rows } = await unetBatches(model, () => generateBatch(model, reqs));
    const cfg = variant === 'tiny-lcm' ? 1 : 2;
    assert.deepEqual(new Set(rows), new Set([4 * cfg]), 'one UNet call per step for all four images');
    for (const [i, req] of reqs.entries()) {
      const single = await textToImage(model, req);
      assert.equal(batched[i]!.length, req.numOutputs);
      for (const [k, img] of single.entries()) {
        assert.equal(batched[i]![k]!.seed, img.seed);
        const diff = maxAbsDiff(batched[i]![k]!.pixels, img.pixels);
        assert.ok(diff < 1 / 255, `request ${i} output ${k}: max pixel difference ${diff}`);
      }
    }
  });
}

test('requests that cannot share a batch are refused: guided with unguided, other sizes, init images', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = request(model, { steps: 3 });
  assert.notEqual(batchKey(model, base), batchKey(model, { ...base, guidance: 1 }), 'guided vs unguided');
  assert.notEqual(batchKey(model, base), batchKey(model, { ...base, width: 32 }));
  assert.notEqual(batchKey(model, base), batchKey(model, { ...base, scheduler: 'ddim' }));
  assert.equal(batchKey(model, { ...base, initImage: new Uint8Array([1]) }), undefined);
  await assert.rejects(generateBatch(model, [base, { ...base, guidance: 1 }]), (e: Error) => e instanceof EngineInputError && e.field === 'batch');
});
