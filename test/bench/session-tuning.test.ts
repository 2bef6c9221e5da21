import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSession, type Feed, type SessionTuning } from '../../src/engine/runtime/session.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';

let root = '';
let unetPath = '';
const feeds: Record<string, Feed> = {};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-session-tuning-'));
  await makeBenchModel(join(root, 'mini'), 'mini', 'fp16');
  unetPath = join(root, 'mini', 'unet', 'model.onnx');
  const wave = (n: number, phase: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase));
  feeds['sample'] = { data: wave(2 * 4 * 8 * 8, 0), dims: [2, 4, 8, 8] };
  feeds['timestep'] = { data: [500, 500], dims: [2] };
  feeds['encoder_hidden_states'] = { data: wave(2 * 77 * 32, 1), dims: [2, 77, 32] };
});
after(() => rm(root, { recursive: true, force: true }));

async function outputWith(tuning?: SessionTuning | ((path: string) => SessionTuning | undefined), path = unetPath): Promise<Float32Array> {
  const s = await OnnxSession.load(path, { provider: 'cpu', threads: 1, tuning });
  try {
    return (await s.run(feeds))['out_sample']!.data;
  } finally {
    await s.dispose();
  }
}

function assertClose(a: Float32Array, b: Float32Array, tol: number): void {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  assert.ok(m <= tol, `max difference ${m} > ${tol}`);
}

test('session tuning options reach ONNX Runtime and keep the results', async () => {
  const base = await outputWith();
  assertClose(await outputWith({ graphOptimizationLevel: 'disabled' }), base, 2e-2);
  assertClose(
    await outputWith({
      graphOptimizationLevel: 'basic',
      enableMemPattern: false,
      enableCpuMemArena: false,
      executionMode: 'sequential',
      configEntries: { 'session.intra_op.allow_spinning': '0' },
    }),
    base,
    2e-2,
  );
  // IO binding path of the binding (outputs bound to a location): on CPU the outputs stay on the host.
  assertClose(await outputWith({ preferredOutputLocation: 'gpu-buffer' }), base, 0);
  // The binding checks what it reads: a bad value is its error, so the options did arrive.
  await assert.rejects(outputWith({ executionMode: 'sideways' as 'parallel' }), /executionMode/);
});

test('tuning per model file; the optimised graph written to disk loads and gives the same output', async () => {
  const seen: string[] = [];
  const optimized = join(root, 'unet.opt.onnx');
  const base = await outputWith((path) => {
    seen.push(path);
    return { optimizedModelFilePath: optimized };
  });
  assert.deepEqual(seen, [unetPath]);
  assert.ok(existsSync(optimized));
  assertClose(await outputWith({ graphOptimizationLevel: 'disabled' }, optimized), base, 1e-3);
  const s = await OnnxSession.load(unetPath, { provider: 'cpu', tuning: { enableMemPattern: false } });
  assert.deepEqual(s.tuning, { enableMemPattern: false });
  await s.dispose();
});

test('prepared inputs and kept outputs skip the host conversions and give the same results', async () => {
  const s = await OnnxSession.load(unetPath, { provider: 'cpu', threads: 1 });
  try {
    const plain = (await s.run(feeds))['out_sample']!;
    const context = s.prepare('encoder_hidden_states', feeds['encoder_hidden_states']!);
    assert.equal(context.location, 'cpu');
    for (let i = 0; i < 2; i++) {
      const { host: again } = await s.runKeeping({ ...feeds, encoder_hidden_states: context });
      assert.deepEqual(again['out_sample'], plain);
    }
    // Keep the output where the session left it and feed it back as the next sample.
    const { host, kept } = await s.runKeeping({ ...feeds, encoder_hidden_states: context }, undefined, ['out_sample']);
    assert.deepEqual(Object.keys(host), []);
    const out = kept['out_sample']!;
    assert.deepEqual(await s.read(out), plain);
    const { host: viaKept } = await s.runKeeping({ ...feeds, encoder_hidden_states: context, sample: out });
    const viaHost = await s.run({ ...feeds, sample: plain });
    assert.deepEqual(viaKept['out_sample'], viaHost['out_sample']);
    out.dispose();
    context.dispose();
    await assert.rejects(s.runKeeping({ ...feeds, encoder_hidden_states: context }), /disposed/);
    assert.throws(() => s.prepare('nope', feeds['sample']!), /no input "nope"/);
    await assert.rejects(s.runKeeping(feeds, undefined, ['nope']), /no output "nope"/);
  } finally {
    await s.dispose();
  }
});
