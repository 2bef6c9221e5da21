import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { readModel } from '../../src/engine/onnx/builder.ts';
import { DataType } from '../../src/engine/onnx/proto.ts';
import { SHAPES, textEncoderParamCount, unetParamCount, vaeDecoderParamCount } from '../../tools/bench/configs.ts';
import { BENCH_INFO_FILE, ensureBenchModel, makeBenchModel, type BenchModelInfo } from '../../tools/bench/make.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-bench-models-'));
});
after(() => rm(root, { recursive: true, force: true }));

test('parameter counts from the configs match the real networks', () => {
  // diffusers / transformers state dicts of runwayml/stable-diffusion-v1-5 and stable-diffusion-xl-base-1.0.
  assert.equal(unetParamCount(SHAPES.sd15.unet), 859_520_964);
  assert.equal(unetParamCount(SHAPES.sdxl.unet), 2_567_463_684);
  assert.equal(textEncoderParamCount(SHAPES.sd15.textEncoder), 123_060_480);
  assert.equal(textEncoderParamCount(SHAPES.sdxl.textEncoder2!), 694_659_840);
  assert.equal(vaeDecoderParamCount(SHAPES.sd15.vaeDecoder), 49_490_199);
});

async function generate(dir: string, size = 64): Promise<Float32Array> {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1 });
  try {
    const { images } = await engine.generate(dir, { prompt: 'a red circle', seed: 7, steps: 4, guidance: 7.5, width: size, height: size });
    assert.equal(images.length, 1);
    return images[0]!.pixels;
  } finally {
    await engine.dispose();
  }
}

function assertImage(pixels: Float32Array, size: number): void {
  assert.equal(pixels.length, 3 * size * size);
  assert.ok(pixels.every(Number.isFinite), 'every pixel is finite');
  let sq = 0;
  for (const v of pixels) sq += v * v;
  assert.ok(sq / pixels.length > 1e-4, 'the image is not blank');
}

for (const shape of ['mini', 'mini-xl'] as const) {
  for (const dtype of ['fp32', 'fp16'] as const) {
    test(`${shape} ${dtype}: built with the configured parameter counts, loads in the engine and generates`, async () => {
      const dir = join(root, `${shape}-${dtype}`);
      const info = await makeBenchModel(dir, shape, dtype);
      const s = SHAPES[shape];
      assert.equal(info.params['unet'], unetParamCount(s.unet));
      assert.equal(info.params['text_encoder'], textEncoderParamCount(s.textEncoder));
      assert.equal(info.params['vae_decoder'], vaeDecoderParamCount(s.vaeDecoder));
      if (s.textEncoder2) assert.equal(info.params['text_encoder_2'], textEncoderParamCount(s.textEncoder2));
      assert.deepEqual(JSON.parse(await readFile(join(dir, BENCH_INFO_FILE), 'utf8')).params, info.params);

      const unet = await readModel(join(dir, 'unet', 'model.onnx'));
      const elem = (name: string) => unet.graph!.input!.find((i) => i.name === name)?.type?.tensor_type?.elem_type;
      assert.equal(elem('sample'), dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT);
      assert.equal(elem('timestep'), DataType.FLOAT);
      if (s.unet.addition) assert.ok(elem('text_embeds') && elem('time_ids'));
      // Standard operators only, in the patterns ONNX Runtime's optimisers know.
      const ops = new Set(unet.graph!.node!.map((n) => `${n.domain ?? ''}:${n.op_type}`));
      for (const op of ['LayerNormalization', 'InstanceNormalization', 'Softmax', 'Erf', 'Resize', 'Conv', 'MatMul', 'Split']) assert.ok(ops.has(`:${op}`), op);
      assert.ok([...ops].every((o) => o.startsWith(':')), 'no custom-domain operators');

      assertImage(await generate(dir), 64);
    });
  }
}

test('weights in external data (model.onnx_data) give the same model', async () => {
  const inline = join(root, 'mini-fp32');
  if (!existsSync(inline)) await makeBenchModel(inline, 'mini', 'fp32');
  const ext = join(root, 'mini-external');
  await makeBenchModel(ext, 'mini', 'fp32', { externalAboveBytes: 0 });
  for (const c of ['unet', 'text_encoder', 'vae_decoder']) assert.ok(existsSync(join(ext, c, 'model.onnx_data')), c);
  assert.ok(!existsSync(join(inline, 'unet', 'model.onnx_data')));
  assert.deepEqual(await generate(ext), await generate(inline));
});

test('ensureBenchModel builds once and reuses the folder', async () => {
  const first = await ensureBenchModel('mini', 'fp32', join(root, 'cache'));
  assert.equal(first.made, true);
  const again = await ensureBenchModel('mini', 'fp32', join(root, 'cache'));
  assert.deepEqual(again, { dir: first.dir, made: false });
  const info = JSON.parse(await readFile(join(first.dir, BENCH_INFO_FILE), 'utf8')) as BenchModelInfo;
  assert.equal(info.shape, 'mini');
});
