import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { EngineInputError, GenerationCancelledError } from '../../src/engine/errors.ts';
import type { GenerationInput } from '../../src/engine/pipelines/defaults.ts';
import { BatchingEngine } from '../../src/worker/batching-engine.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let engine: Engine;
let batches: number[] = [];
before(async () => {
  engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu', threads: 1 });
  const original = engine.generateBatch.bind(engine);
  engine.generateBatch = async (model, inputs, options) => {
    batches.push(inputs.length);
    return original(model, inputs, options);
  };
});
after(() => engine.dispose());

const input = (over: Partial<GenerationInput> = {}): GenerationInput => ({ prompt: 'a red circle', seed: 1, steps: 3, scheduler: 'euler_a', ...over });

test('compatible jobs arriving together run as one batch, each getting exactly its single-run images', async () => {
  batches = [];
  const batcher = new BatchingEngine(engine, { maxBatch: 3, windowMs: 5000 });
  const inputs = [input({ seed: 10 }), input({ prompt: 'a blue square', seed: 20, numOutputs: 2 }), input({ seed: 30, guidance: 9 })];
  const results = await Promise.all(inputs.map((i) => batcher.generate('tiny-sd1', i)));
  assert.deepEqual(batches, [3], 'the third job filled the batch, no waiting for the window');
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
