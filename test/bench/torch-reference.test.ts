/**
 * The PyTorch reference (tools/bench/torch_reference.py) and Darkroom's ONNX models are the same
 * networks: with the ONNX model's weights loaded into the torch modules, both give the same outputs
 * on the same inputs. Needs a Python with torch and onnx (DARKROOM_PYTHON, else python3 or /usr/bin/python3); the
 * test is skipped without one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSession, type Feed } from '../../src/engine/runtime/session.ts';
import { SHAPES } from '../../tools/bench/configs.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';

const SCRIPT = new URL('../../tools/bench/torch_reference.py', import.meta.url).pathname;
const CANDIDATES = process.env.DARKROOM_PYTHON ? [process.env.DARKROOM_PYTHON] : ['python3', '/usr/bin/python3'];
const PYTHON = CANDIDATES.find((p) => spawnSync(p, ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' }).status === 0);
const hasTorch = PYTHON !== undefined;

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-torch-ref-'));
});
after(() => rm(root, { recursive: true, force: true }));

const wave = (n: number, phase: number) => Array.from({ length: n }, (_, i) => 0.8 * Math.sin(i * 12.9898 + phase));

for (const shape of ['mini', 'mini-xl'] as const) {
  test(`${shape}: the PyTorch reference with the ONNX weights gives the ONNX outputs`, { skip: !hasTorch && `no Python with torch and onnx (tried ${CANDIDATES.join(', ')}; set DARKROOM_PYTHON)` }, async () => {
    const dir = join(root, shape);
    await makeBenchModel(dir, shape, 'fp32');
    const cfg = SHAPES[shape];
    const ctx = cfg.unet.contextDim;
    const unetFeeds: Record<string, Feed> = {
      sample: { data: wave(2 * 4 * 8 * 8, 0), dims: [2, 4, 8, 8] },
      timestep: { data: [701, 701], dims: [2] },
      encoder_hidden_states: { data: wave(2 * 77 * ctx, 3), dims: [2, 77, ctx] },
    };
    if (cfg.unet.addition) {
      const d = cfg.unet.addition.textEmbedsDim;
      unetFeeds['text_embeds'] = { data: wave(2 * d, 7), dims: [2, d] };
      unetFeeds['time_ids'] = { data: [64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64], dims: [2, 6] };
    }
    const ids = Array.from({ length: 77 }, (_, i) => (i < 5 ? 100 + 7 * i : 616));
    const spec = {
      unet: unetFeeds,
      text_encoder: { input_ids: { data: ids, dims: [1, 77] } },
      vae_decoder: { latent_sample: { data: wave(4 * 8 * 8, 5), dims: [1, 4, 8, 8] } },
    };
    const run = async (component: string, feeds: Record<string, Feed>, output: string) => {
      const s = await OnnxSession.load(join(dir, component, 'model.onnx'), { provider: 'cpu', threads: 1 });
      try {
        return (await s.run(feeds))[output]!.data;
      } finally {
        await s.dispose();
      }
    };
    const ours: Record<string, Float32Array> = {
      unet: await run('unet', unetFeeds, 'out_sample'),
      text_encoder: await run('text_encoder', spec.text_encoder, 'last_hidden_state'),
      vae_decoder: await run('vae_decoder', spec.vae_decoder, 'sample'),
    };

    const specPath = join(root, `${shape}-spec.json`);
    const cfgPath = join(root, `${shape}-config.json`);
    const outPath = join(root, `${shape}-torch.json`);
    await writeFile(specPath, JSON.stringify({ unet: Object.fromEntries(Object.entries(unetFeeds).map(([k, v]) => [k, { data: Array.from(v.data), dims: v.dims }])), text_encoder: spec.text_encoder, vae_decoder: spec.vae_decoder }));
    await writeFile(cfgPath, JSON.stringify(cfg));
    execFileSync(PYTHON!, [SCRIPT, '--config', cfgPath, '--device', 'cpu', '--dtype', 'fp32', '--weights-from', dir, '--verify', specPath, '--json', outPath]);
    const theirs = JSON.parse(await readFile(outPath, 'utf8')) as Record<string, number[]>;
    for (const [name, a] of Object.entries(ours)) {
      const b = theirs[name]!;
      assert.equal(b.length, a.length, name);
      let diff = 0;
      let sq = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        sq += a[i]! * a[i]!;
      }
      assert.ok(Math.sqrt(sq / a.length) > 0.1, `${name} output is not trivially small`);
      assert.ok(diff < 1e-4, `${name}: max difference ${diff}`);
    }
  });
}
