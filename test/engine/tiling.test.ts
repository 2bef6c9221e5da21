import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EngineInputError } from '../../src/engine/errors.ts';
import { withCircularPadding } from '../../src/engine/models/tiling.ts';
import { decodeModel } from '../../src/engine/onnx/proto.ts';
import { generate } from '../../src/engine/pipelines/generate.ts';
import { Rng } from '../../src/engine/random.ts';
import { OnnxSession } from '../../src/engine/runtime/session.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from './helpers.ts';

after(disposeAll);

/** Circular shift of a [1, c, h, w] tensor by (dy, dx). */
function roll(x: Float32Array, c: number, h: number, w: number, dy: number, dx: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let k = 0; k < c; k++)
    for (let y = 0; y < h; y++)
      for (let i = 0; i < w; i++) out[k * h * w + ((y + dy) % h) * w + ((i + dx) % w)] = x[k * h * w + y * w + i]!;
  return out;
}

async function unetOutput(session: OnnxSession, sample: Float32Array, h: number, w: number): Promise<Float32Array> {
  const ids = new Float32Array(77 * 32).map((_, i) => Math.sin(i));
  const out = await session.run({
    sample: { data: sample, dims: [1, 4, h, w] },
    timestep: { data: [500], dims: [1] },
    encoder_hidden_states: { data: ids, dims: [1, 77, 32] },
  });
  return out['out_sample']!.data;
}

test('the tiling rewrite makes the UNet commute with circular shifts (wrap-around padding); the original does not', async () => {
  const model = await tinyModel('tiny-sd1');
  const tiled = await model.withTiling();
  const [h, w] = [8, 12];
  const x = new Rng(9).fillNormal(new Float32Array(4 * h * w));
  const shifted = roll(x, 4, h, w, 3, 5);
  const tiledDiff = maxAbsDiff(await unetOutput(tiled.unet, shifted, h, w), roll(await unetOutput(tiled.unet, x, h, w), 4, h, w, 3, 5));
  const plainDiff = maxAbsDiff(await unetOutput(model.unet, shifted, h, w), roll(await unetOutput(model.unet, x, h, w), 4, h, w, 3, 5));
  assert.ok(tiledDiff < 1e-4, `tiled UNet is shift-equivariant (max diff ${tiledDiff})`);
  assert.ok(plainDiff > 1e-3, `zero-padded UNet is not (max diff ${plainDiff})`);
});

test('the rewrite touches only padded convolutions and keeps external weights external', async () => {
  const model = await tinyModel('tiny-sd2-v');
  const original = decodeModel(await readFile(model.info.components.unet));
  const { model: rewritten, rewritten: count } = withCircularPadding(original);
  const convs = (original.graph?.node ?? []).filter((n) => n.op_type === 'Conv');
  assert.ok(count > 0 && count <= convs.length);
  const padsOf = (n: { attribute?: { name?: string; ints?: number[] }[] }) => n.attribute?.find((a) => a.name === 'pads')?.ints?.map(Number);
  for (const n of (rewritten.graph?.node ?? []).filter((n) => n.op_type === 'Conv')) assert.deepEqual(padsOf(n) ?? [0, 0, 0, 0], [0, 0, 0, 0]);
  const external = (rewritten.graph?.initializer ?? []).filter((t) => t.data_location === 1);
  assert.ok(external.length > 0, 'weights still point at model.onnx_data');
  const tiled = await model.withTiling();
  const [img] = await generate(tiled, request(tiled, { steps: 2, tiling: true }));
  assert.ok(img!.pixels.every(Number.isFinite));
});

test('tiling: true generates a different, deterministic image; models that forbid it say so', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = request(model, { steps: 3, scheduler: 'ddim' });
  const [plain] = await generate(model, base);
  const [a] = await generate(model, { ...base, tiling: true });
  const [b] = await generate(model, { ...base, tiling: true });
  assert.equal(maxAbsDiff(a!.pixels, b!.pixels), 0);
  assert.ok(meanAbsDiff(a!.pixels, plain!.pixels) > 1e-4);

  const inpaintModel = await tinyModel('tiny-sd1-inpaint');
  assert.equal(inpaintModel.info.manifest.tiling, false);
  await assert.rejects(generate(inpaintModel, request(inpaintModel, { tiling: true })), (e: Error) => e instanceof EngineInputError && e.field === 'tiling');
});
