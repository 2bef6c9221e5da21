import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { disposeAll, request, tinyModel } from '../helpers.ts';

after(disposeAll);

test('two generations on one model take turns in the UNet, while text encoding overlaps', async () => {
  const model = await tinyModel('tiny-sd1');
  const events: string[] = [];
  const unetRun = model.unet.runKeeping.bind(model.unet);
  const textRun = model.textEncoder.runKeeping.bind(model.textEncoder);
  model.unet.runKeeping = async (f, n, k) => {
    events.push(`unet ${f['sample']!.dims[0]}`);
    return unetRun(f, n, k);
  };
  model.textEncoder.runKeeping = async (f, n, k) => {
    events.push('text');
    return textRun(f, n, k);
  };
  try {
    // Batch 2 (one image with guidance) and batch 4 (two images), started together.
    await Promise.all([
      textToImage(model, request(model, { steps: 5, guidance: 7, seed: 1 })),
      textToImage(model, request(model, { steps: 5, guidance: 7, seed: 2, numOutputs: 2 })),
    ]);
  } finally {
    model.unet.runKeeping = unetRun;
    model.textEncoder.runKeeping = textRun;
  }
  const unet = events.filter((e) => e.startsWith('unet'));
  assert.ok(unet.includes('unet 2') && unet.includes('unet 4'), unet.join(', '));
  const switches = unet.filter((e, i) => i > 0 && e !== unet[i - 1]).length;
  assert.equal(switches, 1, `one denoising loop after the other, not interleaved: ${unet.join(', ')}`);
  const lastOfFirstLoop = events.lastIndexOf(unet[0]!);
  assert.ok(events.lastIndexOf('text') < lastOfFirstLoop, `the second request's text encoding ran during the first loop: ${events.join(', ')}`);
});
