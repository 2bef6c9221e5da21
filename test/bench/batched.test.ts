/**
 * The bench's throughput above one request's image limit: requests joined by the worker's batching
 * into one UNet batch, each image still its own request's picture.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { MAX_OUTPUTS } from '../../src/engine/pipelines/check-request.ts';
import { generate } from '../../src/engine/pipelines/generate.ts';
import type { GenerationRequest } from '../../src/engine/pipelines/request.ts';
import { generateBatched, splitRequests } from '../../tools/bench/batched.ts';
import { defaultOptions, formatReport, runBench } from '../../tools/bench/run.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let model: LoadedModel;
let root = '';
before(async () => {
  model = await LoadedModel.load(await readModelFolder(await testModelDir('tiny-sd1')), { provider: 'cpu', threads: 1 });
  root = await mkdtemp(join(tmpdir(), 'darkroom-batched-'));
});
after(async () => {
  await model.dispose();
  await rm(root, { recursive: true, force: true });
});

const base: GenerationRequest = { prompt: 'a red circle', negativePrompt: '', width: 64, height: 64, steps: 3, guidance: 7.5, scheduler: 'euler', seed: 11, numOutputs: 1 };

test('images are split into requests within the engine limit', () => {
  assert.deepEqual(splitRequests(16), [MAX_OUTPUTS, MAX_OUTPUTS]);
  assert.deepEqual(splitRequests(5, 2), [2, 2, 1]);
  assert.deepEqual(splitRequests(3), [3]);
});

test('16 images in two requests run as one batch of 16, each image its request\'s own picture', async () => {
  const run = await generateBatched(model, base, 16);
  assert.deepEqual(run.batches, [16], 'one denoising batch of all 16 images');
  assert.deepEqual(run.images.map((r) => r.length), [8, 8]);
  assert.deepEqual(run.images.flat().map((i) => i.seed), Array.from({ length: 16 }, (_, k) => 11 + k));
  for (const [i, images] of run.images.entries()) {
    const alone = await generate(model, { ...base, seed: 11 + 8 * i, numOutputs: 8 });
    images.forEach((img, k) => assert.deepEqual(img.pixels, alone[k]!.pixels, `request ${i} image ${k}`));
  }
});

test('the bench measures 16 images per UNet call through the worker batching', async () => {
  const o = { ...defaultOptions('mini'), steps: 2, runs: 1, warmup: 0, e2eRuns: 1, batches: [1], images: [2, 16], threads: 1, modelsDir: join(root, 'models') };
  const report = await runBench(o);
  const e = report.runs[0]!;
  assert.deepEqual(e.errors, []);
  assert.deepEqual(e.throughput.map((t) => [t.images, t.requests]), [[2, 1], [16, 2]]);
  for (const t of e.throughput) assert.ok(t.imagesPerSecond > 0 && t.medianMs > 0);
  assert.match(formatReport(report), /img\/s @16/);
});
