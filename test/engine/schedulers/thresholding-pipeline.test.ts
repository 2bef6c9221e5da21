/**
 * Thresholding through the real pipeline: the pipeline tells the scheduler each latent's size, so a model whose
 * scheduler_config.json asks for it draws (rather than refusing to step), thresholds each image on its own values
 * (output k of a batch is still the single image of seed + k), and the picture is not the unthresholded one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadedModel } from '../../../src/engine/models/loaded-model.ts';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

test('DDIM with thresholding: per image, through the pipeline', async () => {
  const plain = await tinyModel('tiny-sd1');
  const info = {
    ...plain.info,
    schedulerConfig: { ...plain.info.schedulerConfig, thresholding: true, dynamic_thresholding_ratio: 0.5, sample_max_value: 10 },
  };
  const model = await LoadedModel.load(info, { provider: 'cpu', threads: 1 });
  try {
    const base = request(model, { scheduler: 'ddim', steps: 4, seed: 100 });
    const batch = await textToImage(model, { ...base, numOutputs: 3 });
    const [single] = await textToImage(model, { ...base, seed: 102 });
    const [unthresholded] = await textToImage(plain, { ...base, seed: 102 });
    const diff = maxAbsDiff(batch[2]!.pixels, single!.pixels);
    assert.ok(diff < 1 / 255, `output 2 of the batch vs the single image of seed 102: max pixel difference ${diff}`);
    assert.ok(meanAbsDiff(single!.pixels, unthresholded!.pixels) > 1e-3, 'thresholding left the picture as it was');
  } finally {
    await model.dispose();
  }
});
