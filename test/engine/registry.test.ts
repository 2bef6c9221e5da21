import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { ModelRegistry } from '../../src/engine/models/registry.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let root = '';
after(() => rm(root, { recursive: true, force: true }));

async function modelsRoot(): Promise<string> {
  if (root) return root;
  root = await mkdtemp(join(tmpdir(), 'darkroom-models-'));
  await cp(await testModelDir('tiny-sd1'), join(root, 'tiny-sd1'), { recursive: true });
  await cp(await testModelDir('tiny-sdxl'), join(root, 'tiny-sdxl'), { recursive: true });
  // A plain export: no darkroom.json, defaults must be inferred.
  await cp(await testModelDir('tiny-sd2-v'), join(root, 'plain-export'), { recursive: true });
  await rm(join(root, 'plain-export', 'darkroom.json'));
  return root;
}

test('the registry lists every model folder and resolves ids, folder names and paths', async () => {
  const reg = new ModelRegistry([await modelsRoot()]);
  const listed = await reg.list();
  assert.deepEqual(listed.map((m) => m.info?.manifest.id).sort(), ['plain-export', 'tiny-sd1', 'tiny-sdxl']);
  assert.equal((await reg.resolve('tiny-sdxl')).manifest.family, 'sdxl');
  assert.equal((await reg.resolve(join(root, 'tiny-sd1'))).manifest.id, 'tiny-sd1');
});

test('a plain export without darkroom.json loads with defaults inferred from its configs', async () => {
  const info = await new ModelRegistry([await modelsRoot()]).resolve('plain-export');
  assert.equal(info.inferred, true);
  assert.equal(info.manifest.family, 'sd2', 'v_prediction in scheduler_config.json means SD 2.x');
  assert.equal(info.manifest.defaults.width, 768);
  assert.ok(info.manifest.schedulers.includes('euler'));
});

test('SDXL picks up the VAE scaling factor from the VAE config', async () => {
  const info = await new ModelRegistry([await modelsRoot()]).resolve('tiny-sdxl');
  assert.equal(info.vae.scalingFactor, 0.13025);
  assert.ok(info.components.textEncoder2 && info.components.tokenizer2);
});

test('the engine loads a model once and reuses its sessions; dispose releases them', async () => {
  const engine = new Engine({ modelDirs: [await modelsRoot()], provider: 'cpu', threads: 1 });
  const a = await engine.model('tiny-sd1');
  const b = await engine.model('tiny-sd1');
  assert.equal(a, b);
  const { request, images } = await engine.generate('tiny-sd1', { prompt: 'a red circle', seed: 3, steps: 2 });
  assert.equal(request.width, 64, 'defaults from the manifest');
  assert.equal(images.length, 1);
  await engine.dispose();
  await assert.rejects(a.unet.run({}), /disposed/);
});

test('a provider that is not available falls back to CPU with one message', async () => {
  const messages: string[] = [];
  const engine = new Engine({ modelDirs: [await modelsRoot()], provider: 'cuda', threads: 1, log: (m) => messages.push(m) });
  try {
    const model = await engine.model('tiny-sd1');
    // On a machine with the CUDA provider installed this runs on CUDA; here (CI) it must fall back.
    if (model.provider === 'cpu') {
      assert.equal(messages.length, 1);
      assert.match(messages[0]!, /"cuda" is not available.*using CPU/);
    }
    const { images } = await engine.generate('tiny-sd1', { prompt: 'x', seed: 1, steps: 2 });
    assert.equal(images.length, 1);
  } finally {
    await engine.dispose();
  }
});
