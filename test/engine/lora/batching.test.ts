import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_MODELS_DIR } from '../../../src/config/config.ts';
import { Engine } from '../../../src/engine/engine.ts';
import { writeSafetensors } from '../../../src/engine/lora/safetensors.ts';
import { buildTargets } from '../../../src/engine/lora/targets.ts';
import { decodeModel } from '../../../src/engine/onnx/proto.ts';
import type { GenerationInput } from '../../../src/engine/pipelines/defaults.ts';
import { BatchingEngine } from '../../../src/worker/batching-engine.ts';
import { loraTensors, randomLora } from '../../../tools/lora/make.ts';

let root = '';
let engine: Engine;
const batches: string[][] = [];
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-lora-batch-'));
  const model = join(root, 'models', 'darkroom-demo');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), model, { recursive: true });
  await mkdir(join(root, 'loras'));
  const targets = buildTargets(decodeModel(await readFile(join(model, 'unet', 'model.onnx'))));
  await writeSafetensors(join(root, 'loras', 'style.safetensors'), loraTensors(randomLora('unet', targets, ['a1.attn1.q'], 2, 1), 'kohya'));
  engine = new Engine({ modelDirs: [join(root, 'models')], lorasDir: join(root, 'loras'), provider: 'cpu', threads: 1, maxLoadedModels: 3 });
  const original = engine.generateBatch.bind(engine);
  engine.generateBatch = async (id, inputs, options) => {
    batches.push(inputs.map((i) => (i.loras ?? []).map((l) => `${l.name}:${l.weight}`).join(',') || 'none'));
    return original(id, inputs, options);
  };
});
after(async () => {
  await engine.dispose();
  await rm(root, { recursive: true, force: true });
});

test('dynamic batching joins requests with the same LoRA set only', async () => {
  // Loaded (and merged) beforehand, so the requests reach the batcher together.
  for (const loras of [[], [{ name: 'style', weight: 1 }], [{ name: 'style', weight: 0.5 }]]) await engine.model('darkroom-demo', loras);
  const batcher = new BatchingEngine(engine, { maxBatch: 8, windowMs: 1000 });
  const input = (seed: number, loras?: GenerationInput['loras']): GenerationInput => ({ prompt: 'a red circle', seed, steps: 2, ...(loras ? { loras } : {}) });
  const results = await Promise.all([
    batcher.generate('darkroom-demo', input(1)),
    batcher.generate('darkroom-demo', input(2, [{ name: 'style', weight: 1 }])),
    batcher.generate('darkroom-demo', input(3, [{ name: 'style', weight: 1 }])),
    batcher.generate('darkroom-demo', input(4, [{ name: 'style', weight: 0.5 }])),
    batcher.generate('darkroom-demo', input(5)),
  ]);
  assert.deepEqual(batches.map((b) => b.join('|')).sort(), ['none|none', 'style:0.5', 'style:1|style:1'], 'one batch per set, none mixed');
  // Each still gets what it would get alone.
  const alone = await engine.generate('darkroom-demo', input(2, [{ name: 'style', weight: 1 }]));
  assert.deepEqual(results[1]!.images[0]!.pixels, alone.images[0]!.pixels);
});
