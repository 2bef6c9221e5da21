import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeImage } from '../../../src/engine/image.ts';
import { EngineInputError } from '../../../src/engine/errors.ts';
import { generate } from '../../../src/engine/pipelines/generate.ts';
import { imageToImage } from '../../../src/engine/pipelines/image-to-image.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, request, tinyModel } from '../helpers.ts';

after(disposeAll);

test('hires: the output has the target size and equals base, upscale, image-to-image done by hand with the same seeds', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = request(model, { width: 64, height: 48, steps: 6, scheduler: 'ddim', numOutputs: 2, seed: 7 });
  const made = await generate(model, { ...base, hires: { scale: 1.5, strength: 0.6, steps: 4 } });
  assert.deepEqual(made.map((i) => [i.width, i.height, i.seed]), [[96, 72, 7], [96, 72, 8]]);

  const drafts = await textToImage(model, base);
  for (const [k, draft] of drafts.entries()) {
    const initImage = await encodeImage(draft.pixels, draft.width, draft.height, 'png');
    const [byHand] = await imageToImage(model, { ...base, width: 96, height: 72, initImage, strength: 0.6, steps: 4, seed: draft.seed, numOutputs: 1 });
    assert.deepEqual(made[k]!.pixels, byHand!.pixels, `output ${k}`);
  }
});

test('hires: a target over the model\'s size limit, a scale of 1 or a bad strength or steps are refused naming the field', async () => {
  const model = await tinyModel('tiny-sd1');
  const max = model.info.manifest.maxSize;
  const base = request(model, { width: max, height: 64, steps: 2 });
  const field = (req: Parameters<typeof generate>[1]) =>
    generate(model, req).then(
      () => 'accepted',
      (err: unknown) => (err instanceof EngineInputError ? err.field : String(err)),
    );
  assert.equal(await field({ ...base, hires: { scale: 2, strength: 0.5 } }), 'hires.scale');
  assert.equal(await field({ ...base, width: 64, hires: { scale: 1, strength: 0.5 } }), 'hires.scale');
  assert.equal(await field({ ...base, width: 64, hires: { scale: 2, strength: 0 } }), 'hires.strength');
  assert.equal(await field({ ...base, width: 64, hires: { scale: 2, strength: 0.5, steps: 0 } }), 'hires.steps');
});
