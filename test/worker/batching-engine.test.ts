import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { EngineInputError, GenerationCancelledError } from '../../src/engine/errors.ts';
import type { GenerationInput } from '../../src/engine/pipelines/defaults.ts';
import { BatchingEngine, isOutOfMemory } from '../../src/worker/batching-engine.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let engine: Engine;
let batches: number[] = [];
/** Images in each batch the engine ran, beside `batches` (jobs in each). */
let batchImages: number[] = [];
/** When set, a batch of more images than this fails the way ONNX Runtime's CUDA provider does. */
let memoryFor: number | undefined;
before(async () => {
  engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu', threads: 1 });
  const original = engine.generateBatch.bind(engine);
  engine.generateBatch = async (model, inputs, options) => {
    batches.push(inputs.length);
    const images = inputs.reduce((n, i) => n + (i.numOutputs ?? 1), 0);
    batchImages.push(images);
    if (memoryFor !== undefined && images > memoryFor) {
      throw new Error('Non-zero status code returned while running Conv node. CUDA failure 2: out of memory');
    }
    return original(model, inputs, options);
  };
});
after(() => engine.dispose());

const input = (over: Partial<GenerationInput> = {}): GenerationInput => ({ prompt: 'a red circle', seed: 1, steps: 3, scheduler: 'euler_a', ...over });

test('compatible jobs arriving together run as one batch, each getting exactly its single-run images', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 4, windowMs: 5000 });
  const inputs = [input({ seed: 10 }), input({ prompt: 'a blue square', seed: 20, numOutputs: 2 }), input({ seed: 30, guidance: 9 })];
  const results = await Promise.all(inputs.map((i) => batcher.generate('tiny-sd1', i)));
  assert.deepEqual(batches, [3], 'the third job filled the batch of 4 images, no waiting for the window');
  for (const [i, r] of results.entries()) {
    const alone = await engine.generate('tiny-sd1', inputs[i]!);
    assert.deepEqual(r.images.map((x) => x.seed), alone.images.map((x) => x.seed));
    r.images.forEach((img, k) => assert.deepEqual(img.pixels, alone.images[k]!.pixels));
  }
});

test('the window closes a partial batch; incompatible jobs go in separate batches', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 8, windowMs: 40 });
  await Promise.all([
    batcher.generate('tiny-sd1', input({ seed: 1 })),
    batcher.generate('tiny-sd1', input({ seed: 2 })),
    batcher.generate('tiny-sd1', input({ seed: 3, steps: 4 })),
    batcher.generate('tiny-sd1', input({ seed: 4, guidance: 1 })),
  ]);
  assert.deepEqual(batches.sort(), [1, 1, 2]);
});

test('a cancelled job drops out; its batch-mates still get their images', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 2, windowMs: 5000 });
  const controller = new AbortController();
  const cancelled = batcher.generate('tiny-sd1', input({ seed: 5 }), { signal: controller.signal });
  await new Promise((r) => setTimeout(r, 50)); // it now waits in its group
  controller.abort();
  await assert.rejects(cancelled, GenerationCancelledError);
  const r = await batcher.generate('tiny-sd1', input({ seed: 6 })); // fills the group: runs without the cancelled job
  assert.equal(r.images[0]!.seed, 6);
  assert.deepEqual(batches, [1]);
  const early = new AbortController();
  early.abort();
  await assert.rejects(batcher.generate('tiny-sd1', input({ seed: 8 }), { signal: early.signal }), GenerationCancelledError);
});

test('when a batch fails, each job runs alone, so the error reaches only the job that caused it', async () => {
  batches = [];
  const logs: string[] = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 2, windowMs: 5000, log: (m) => logs.push(m) });
  const bad = batcher.generate('tiny-sd1', input({ seed: -1 }));
  const good = batcher.generate('tiny-sd1', input({ seed: 7 }));
  await assert.rejects(bad, (e: Error) => e instanceof EngineInputError && e.field === 'seed');
  assert.equal((await good).images[0]!.seed, 7);
  assert.match(logs[0]!, /a batch of 2 failed/);
});

test('maxBatch 1 never batches', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 1, windowMs: 5000 });
  await Promise.all([batcher.generate('tiny-sd1', input({ seed: 1 })), batcher.generate('tiny-sd1', input({ seed: 2 }))]);
  assert.deepEqual(batches, [1, 1]);
});

test('the limit counts images: a job that would overflow the batch starts the next one', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 3, windowMs: 40 });
  const results = await Promise.all([
    batcher.generate('tiny-sd1', input({ seed: 1, numOutputs: 2 })),
    batcher.generate('tiny-sd1', input({ seed: 2, numOutputs: 2 })),
    batcher.generate('tiny-sd1', input({ seed: 3 })),
  ]);
  // The jobs meet in whatever order their batch keys resolve: one batch of a 2-image job, one of 2 + 1.
  assert.deepEqual(batches.sort(), [1, 2]);
  assert.deepEqual(results.map((r) => r.images.map((i) => i.seed)), [[1, 2], [2, 3], [3]]);
});

test('a batch that runs out of memory is run again in halves, and later batches of its kind stay under the learned limit', async () => {
  batches = [];
  memoryFor = 2;
  const logs: string[] = [];
  try {
    const batcher = new BatchingEngine(engine, { maxBatch: 4, windowMs: 5000, log: (m) => logs.push(m) });
    const inputs = [1, 2, 3, 4].map((seed) => input({ seed: 40 + seed }));
    const results = await Promise.all(inputs.map((i) => batcher.generate('tiny-sd1', i)));
    assert.deepEqual(batches, [4, 2, 2]);
    assert.match(logs.join('\n'), /a batch of 4 images ran out of memory; batches of this kind now hold at most 2/);
    for (const [i, r] of results.entries()) {
      const alone = await engine.generate('tiny-sd1', inputs[i]!);
      assert.deepEqual(r.images[0]!.pixels, alone.images[0]!.pixels, 'the rerun still gives each job its own image');
    }
    batches = [];
    await Promise.all([5, 6, 7, 8].map((seed) => batcher.generate('tiny-sd1', input({ seed }))));
    assert.deepEqual(batches, [2, 2], 'no second failure: the learned limit holds');
    // Other kinds of batch (here another size) keep the configured limit.
    batches = [];
    memoryFor = undefined;
    await Promise.all([1, 2, 3, 4].map((seed) => batcher.generate('tiny-sd1', input({ seed, width: 128, height: 128 }))));
    assert.deepEqual(batches, [4]);
  } finally {
    memoryFor = undefined;
  }
});

test('a single job that runs out of memory fails with the error, so the worker can refund it', async () => {
  memoryFor = 1;
  try {
    const batcher = new BatchingEngine(engine, { maxBatch: 4, windowMs: 5000 });
    await assert.rejects(batcher.generate('tiny-sd1', input({ seed: 1, numOutputs: 4 })), /out of memory/);
  } finally {
    memoryFor = undefined;
  }
});

test('out-of-memory errors are told apart from others', () => {
  for (const m of ['CUDA failure 2: out of memory', 'Failed to allocate memory for requested buffer of size 123', 'std::bad_alloc', 'CUDNN_STATUS_ALLOC_FAILED', 'GPU OOM']) {
    assert.ok(isOutOfMemory(new Error(m)), m);
  }
  for (const m of ['seed must be an integer', 'a red circle in a room', 'Invalid input name: sample']) assert.ok(!isOutOfMemory(new Error(m)), m);
});

test('16 images from several requests meet in one UNet batch, each image exactly its solo picture; the 17th starts the next batch', async () => {
  batches = [];
  batchImages = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 16, windowMs: 5000 });
  // Each request within the engine's own limit of 8 images; together 16, then one more.
  const inputs = [
    input({ seed: 100, numOutputs: 8 }),
    input({ prompt: 'a blue square', seed: 200, numOutputs: 4 }),
    input({ prompt: 'a green triangle', seed: 300, numOutputs: 2, guidance: 4 }),
    input({ seed: 400 }),
    input({ prompt: 'a yellow star', seed: 500 }),
  ];
  const results = await Promise.all(inputs.map((i) => batcher.generate('tiny-sd1', i)));
  assert.deepEqual(batches, [5], 'the fifth request filled the batch without waiting for the window');
  assert.deepEqual(batchImages, [16]);
  const seen = new Set<string>();
  for (const [i, r] of results.entries()) {
    const alone = await engine.generate('tiny-sd1', inputs[i]!);
    assert.equal(r.images.length, inputs[i]!.numOutputs ?? 1);
    assert.deepEqual(r.images.map((x) => x.seed), alone.images.map((x) => x.seed));
    r.images.forEach((img, k) => {
      assert.deepEqual(img.pixels, alone.images[k]!.pixels, `request ${i} image ${k} equals its solo picture`);
      seen.add(Buffer.from(img.pixels).toString('base64'));
    });
  }
  assert.equal(seen.size, 16, 'sixteen different pictures, none handed to another request');

  batchImages = [];
  const over = await Promise.all([
    batcher.generate('tiny-sd1', input({ seed: 1, numOutputs: 8 })),
    batcher.generate('tiny-sd1', input({ seed: 2, numOutputs: 8 })),
    batcher.generate('tiny-sd1', input({ seed: 3 })),
  ]);
  // The jobs meet in whatever order their batch keys resolve: 8 + 8 with the 1 after, or 8 + 1 with the other 8 after.
  assert.ok(batchImages.length === 2 && batchImages.every((n) => n <= 16), `never more than 16 images in one batch: ${batchImages.join(', ')}`);
  assert.equal(batchImages[0]! + batchImages[1]!, 17);
  assert.deepEqual(over.map((r) => r.images.length), [8, 8, 1]);
});
