/**
 * The loop graph (models/loop-graph.ts) on its own, on ONNX Runtime's CPU provider: a stand-in "UNet" whose
 * output depends on the sample, the timestep and each row's text state, looped over a scheduler's table with
 * guidance and noise, must give what the same steps give in JS (step-table.ts' kernel), for each timestep
 * form an export may declare; and a call may start mid-table, as the runner's calls of K steps do.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, makeValueInfo, saveModel, type Dim, type TensorDType } from '../../../src/engine/onnx/builder.ts';
import { buildLoopGraph, LOOP_IO, LoopGraphError } from '../../../src/engine/models/loop-graph.ts';
import { OnnxSession } from '../../../src/engine/runtime/session.ts';
import { createScheduler } from '../../../src/engine/schedulers/index.ts';
import { scaleByTable, stepByTable, tableColumns, type StepTable } from '../../../src/engine/schedulers/step-table.ts';

const dir = await mkdtemp(join(tmpdir(), 'darkroom-loop-graph-'));
after(() => rm(dir, { recursive: true, force: true }));

const [C, H, W, SEQ, DIM] = [2, 3, 3, 4, 5];

/** out = 0.5 sample + t / 1000 + mean(text row); the weight 0.5 also listed as a graph input, as older exports do. */
function standIn(timestep: { type: TensorDType; dims: Dim[] }) {
  const g = new GraphBuilder('unet');
  const sample = g.input('sample', 'float32', ['batch', C, 'height', 'width']);
  const t = g.input('timestep', timestep.type, timestep.dims);
  const ehs = g.input('encoder_hidden_states', 'float32', ['batch', SEQ, DIM]);
  const w = g.initializer('weight', [0.5], [1]);
  const tScaled = g.reshape(g.div(g.cast(t, 'float32'), g.constant([1000], [1])), [-1, 1, 1, 1]);
  const text = g.unsqueeze(g.op('ReduceMean', [ehs], { axes: [1, 2], keepdims: 1 }), [3]);
  g.output('out_sample', 'float32', ['batch', C, 'height', 'width'], g.add(g.add(g.mul(sample, w), tScaled), text));
  const model = g.toModel();
  model.graph!.input!.push(makeValueInfo('weight', 'float32', [1]));
  return model;
}

/** The same model in JS, rows [uncond..., cond...]. */
function standInJs(sample: Float32Array, t: number, ehs: Float32Array, rows: number): Float32Array {
  const per = sample.length / rows;
  const text = Array.from({ length: rows }, (_, r) => ehs.subarray(r * SEQ * DIM, (r + 1) * SEQ * DIM).reduce((a, b) => a + b, 0) / (SEQ * DIM));
  return sample.map((v, i) => Math.fround(0.5 * v + t / 1000 + text[Math.floor(i / per)]!));
}

function jsLoop(table: StepTable, x0: Float32Array, ehs: Float32Array, guidance: number[], noise: Float32Array[], integer: boolean): Float32Array {
  let x = x0;
  let prev: Float32Array | null = null;
  table.forEach((row, j) => {
    const xs = scaleByTable(row, x);
    const out = standInJs(Float32Array.from([...xs, ...xs]), integer ? Math.round(row.timestep) : Math.fround(row.timestep), ehs, 2 * guidance.length);
    const half = xs.length;
    const per = half / guidance.length;
    const m = xs.map((_, i) => out[i]! + guidance[Math.floor(i / per)]! * (out[half + i]! - out[i]!));
    const r = stepByTable(row, x, m, prev, noise[j] ?? null);
    [x, prev] = [r.next, r.prediction];
  });
  return x;
}

const wave = (n: number, phase: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase));

for (const timestep of [
  { type: 'int64' as const, dims: [1] },
  { type: 'float32' as const, dims: ['batch'] },
  { type: 'float32' as const, dims: [] },
]) {
  test(`the loop graph steps as the table does in JS (timestep ${timestep.type} [${timestep.dims.join(', ')}], guidance per image, noise, two calls)`, async () => {
    const file = join(dir, `loop-${timestep.type}-${timestep.dims.length}.onnx`);
    await saveModel(file, buildLoopGraph(standIn(timestep), { guidance: true }));
    const session = await OnnxSession.load(file, { provider: 'cpu', graphCache: false });
    try {
      assert.deepEqual(session.inputs.map((i) => i.name).filter((n) => !n.startsWith('loop_')), ['encoder_hidden_states'], 'the weight is not an input of the loop graph');
      const scheduler = createScheduler('euler_a', { num_train_timesteps: 1000, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
      scheduler.setTimesteps(6);
      const table = scheduler.stepTable!(0)!;
      const images = 2;
      const dims = [images, C, H, W];
      const size = images * C * H * W;
      const x0 = wave(size, 0).map((v) => v * 10);
      const ehs = wave(2 * images * SEQ * DIM, 1);
      const guidance = [7.5, 2];
      const noise = table.map((_, j) => wave(size, 2 + j));
      const integer = timestep.type === 'int64';
      const expected = jsLoop(table, x0, ehs, guidance, noise, integer);

      // Two calls, 4 steps then 2, as the runner makes them.
      let x: Float32Array = x0;
      let previous: Float32Array = new Float32Array(size);
      for (const [start, steps] of [[0, 4], [4, 2]] as const) {
        const draws = new Float32Array(steps * size);
        for (let k = 0; k < steps; k++) draws.set(noise[start + k]!, k * size);
        const out = await session.run({
          [LOOP_IO.latents]: { data: x, dims },
          [LOOP_IO.previous]: { data: previous, dims },
          [LOOP_IO.start]: { data: [start], dims: [] },
          [LOOP_IO.steps]: { data: [steps], dims: [] },
          [LOOP_IO.coefficients]: { data: tableColumns(table), dims: [table.length, 9] },
          [LOOP_IO.timesteps]: { data: table.map((r) => (integer ? Math.round(r.timestep) : r.timestep)), dims: [table.length] },
          [LOOP_IO.guidance]: { data: guidance, dims: [images] },
          [LOOP_IO.noise]: { data: draws, dims: [steps, ...dims] },
          encoder_hidden_states: { data: ehs, dims: [2 * images, SEQ, DIM] },
        });
        x = out[LOOP_IO.latentsOut]!.data;
        previous = out[LOOP_IO.previousOut]!.data;
      }
      const scale = Math.max(...expected.map(Math.abs));
      const worst = Math.max(...x.map((v, i) => Math.abs(v - expected[i]!)));
      assert.ok(worst <= 1e-5 * scale, `largest difference ${worst} (values up to ${scale})`);
      assert.ok(Math.max(...x.map((v, i) => Math.abs(v - x0[i]!))) > 1, 'the latents moved');
    } finally {
      await session.dispose();
    }
  });
}

test('a graph without the inputs the loop feeds is refused by name', () => {
  const g = new GraphBuilder('not-a-unet');
  g.output('y', 'float32', [1], g.input('x', 'float32', [1]));
  assert.throws(() => buildLoopGraph(g.toModel(), { guidance: false }), (err: unknown) => err instanceof LoopGraphError && /"sample" and "timestep"/.test(err.message));
});
