/**
 * Optimised graphs cached on disk: the first load writes the graph ONNX Runtime optimised beside the
 * model, the next loads use it (and answer exactly as a session that optimised the model itself); an
 * entry that is corrupt, or whose model changed, is made again; settings that change the graph get
 * entries of their own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSession, type Feed } from '../../../src/engine/runtime/session.ts';
import { graphCacheDir } from '../../../src/engine/runtime/graph-cache.ts';
import { testModelDir } from '../../../tools/test-models/cache.ts';

let dir: string;
let model: string;

before(async () => {
  // A private copy: these tests corrupt and touch their model's cache.
  dir = mkdtempSync(join(tmpdir(), 'darkroom-graph-cache-'));
  model = join(dir, 'model.onnx');
  copyFileSync(join(await testModelDir('tiny-sd1'), 'unet', 'model.onnx'), model);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const wave = (n: number, phase: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase));
const feeds: Record<string, Feed> = {
  sample: { data: wave(2 * 4 * 8 * 8, 0), dims: [2, 4, 8, 8] },
  timestep: { data: [500], dims: [1] },
  encoder_hidden_states: { data: wave(2 * 77 * 32, 1), dims: [2, 77, 32] },
};

async function run(options: Parameters<typeof OnnxSession.load>[1]): Promise<{ out: Float32Array; cache: OnnxSession['graphCache'] }> {
  const s = await OnnxSession.load(model, options);
  try {
    const r = await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => s.hasInput(k))));
    return { out: Object.values(r)[0]!.data, cache: s.graphCache };
  } finally {
    await s.dispose();
  }
}

const entry = () => graphCacheDir(model, { provider: 'cpu', level: 'all' });

test('the first load saves the optimised graph, the second loads it, with outputs equal to an uncached session', async () => {
  const plain = await run({ provider: 'cpu', threads: 1, graphCache: false });
  assert.equal(plain.cache, undefined);
  assert.ok(!existsSync(entry()), 'no cache without asking');

  const first = await run({ provider: 'cpu', threads: 1 });
  assert.equal(first.cache, 'made');
  assert.deepEqual(readdirSync(entry()).sort(), ['key.json', 'model.onnx', 'model.onnx_data']);
  const key = JSON.parse(readFileSync(join(entry(), 'key.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(key['provider'], 'cpu');
  assert.equal(key['level'], 'all');
  assert.match(String(key['runtimeVersion']), /^\d+\.\d+\.\d+/);

  const second = await run({ provider: 'cpu', threads: 1 });
  assert.equal(second.cache, 'used');
  assert.deepEqual(second.out, plain.out);
  assert.deepEqual(first.out, plain.out);
});

test('a corrupt entry is made again, not fatal', async () => {
  await run({ provider: 'cpu', threads: 1 });
  writeFileSync(join(entry(), 'model.onnx'), 'not a model');
  const again = await run({ provider: 'cpu', threads: 1 });
  assert.equal(again.cache, 'made');
  assert.equal((await run({ provider: 'cpu', threads: 1 })).cache, 'used');
});

test('an entry is made again when the model file changes (its size or mtime)', async () => {
  await run({ provider: 'cpu', threads: 1 });
  const later = new Date(Date.now() + 60_000);
  utimesSync(model, later, later);
  assert.equal((await run({ provider: 'cpu', threads: 1 })).cache, 'made');
  assert.equal((await run({ provider: 'cpu', threads: 1 })).cache, 'used');
});

test("another optimisation level has its own entry; 'disabled' and a tuning's own optimizedModelFilePath have none", async () => {
  const basic = await run({ provider: 'cpu', threads: 1, tuning: { graphOptimizationLevel: 'basic' } });
  assert.equal(basic.cache, 'made');
  assert.ok(existsSync(graphCacheDir(model, { provider: 'cpu', level: 'basic' })));
  assert.equal((await run({ provider: 'cpu', threads: 1, tuning: { graphOptimizationLevel: 'basic' } })).cache, 'used');
  assert.equal((await run({ provider: 'cpu', threads: 1, tuning: { graphOptimizationLevel: 'disabled' } })).cache, undefined);
  const own = join(dir, 'own.onnx');
  assert.equal((await run({ provider: 'cpu', threads: 1, tuning: { optimizedModelFilePath: own } })).cache, undefined);
  assert.ok(existsSync(own));
});

test('entries of a model file that is gone are swept when a new entry is made beside them', async () => {
  const twin = join(dir, 'twin.onnx');
  copyFileSync(model, twin);
  const s = await OnnxSession.load(twin, { provider: 'cpu', threads: 1 });
  assert.equal(s.graphCache, 'made');
  await s.dispose();
  const twinEntry = graphCacheDir(twin, { provider: 'cpu', level: 'all' });
  assert.ok(existsSync(twinEntry));
  rmSync(twin);
  assert.equal((await run({ provider: 'cpu', threads: 1, tuning: { graphOptimizationLevel: 'extended' } })).cache, 'made');
  assert.ok(!existsSync(twinEntry));
  assert.ok(existsSync(entry()), "the live model's entry stays");
});

test('a model folder where no entry can be written loads as before', async () => {
  const fenced = mkdtempSync(join(tmpdir(), 'darkroom-graph-cache-fenced-'));
  try {
    const file = join(fenced, 'model.onnx');
    copyFileSync(model, file);
    // A file where the cache folder would go: the entry cannot be made, whoever runs the test.
    writeFileSync(join(fenced, '.ort-graphs'), '');
    const s = await OnnxSession.load(file, { provider: 'cpu', threads: 1 });
    assert.equal(s.graphCache, undefined);
    const r = await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => s.hasInput(k))));
    assert.deepEqual(Object.values(r)[0]!.data, (await run({ provider: 'cpu', threads: 1, graphCache: false })).out);
    await s.dispose();
  } finally {
    rmSync(fenced, { recursive: true, force: true });
  }
});
