import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_MODELS_DIR } from '../../../src/config/config.ts';
import { EngineInputError } from '../../../src/engine/errors.ts';
import type { LoraComponent } from '../../../src/engine/lora/keys.ts';
import { LoraLibrary } from '../../../src/engine/lora/library.ts';
import { mergedFile } from '../../../src/engine/lora/merged-file.ts';
import { writeSafetensors } from '../../../src/engine/lora/safetensors.ts';
import { buildTargets, type Target } from '../../../src/engine/lora/targets.ts';
import { readModelFolder, type ModelInfo } from '../../../src/engine/models/model-folder.ts';
import { decodeModel, type ModelProto } from '../../../src/engine/onnx/proto.ts';
import { testModelDir } from '../../../tools/test-models/cache.ts';
import { loraTensors, randomLora, weightOf, type Factors, type Layout } from '../../../tools/lora/make.ts';

let root = '';
let demo: ModelInfo;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-lora-'));
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), join(root, 'demo'), { recursive: true }); // merged twins are written beside the model
  demo = await readModelFolder(join(root, 'demo'));
  await mkdir(join(root, 'loras'));
});
after(() => rm(root, { recursive: true, force: true }));

const load = async (path: string) => decodeModel(await readFile(path));

/** W + Σ weight·(alpha/rank)·up·down in PyTorch's orientation, computed the plain way. */
function expected(w: Float32Array, factors: readonly { f: Factors; weight: number }[], shape: readonly number[]): Float32Array {
  const out = Float32Array.from(w);
  const rows = shape[0]!;
  const cols = w.length / rows;
  for (const { f, weight } of factors) {
    const rank = f.down.shape[0]!;
    const scale = (weight * (f.alpha ?? rank)) / rank;
    for (let o = 0; o < rows; o++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < rank; k++) s += f.up.data[o * rank + k]! * f.down.data[k * cols + j]!;
        out[o * cols + j]! += scale * s;
      }
    }
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function install(name: string, factors: Factors[], layout: Layout): Promise<void> {
  await writeSafetensors(join(root, 'loras', `${name}.safetensors`), loraTensors(factors, layout));
}

const UNET_MODULES = [
  'a1.attn1.q', // MatMul on an unnamed weight (onnx::MatMul_N), stored transposed
  'a2.attn2.k', // the same, on the text input (128 → 128: square, so only the orientation tells)
  'd0.t', // Gemm on a named weight (transB: stored as PyTorch has it)
  'd0.c1', // Conv 3x3 (LoCon)
  'd1.skip', // Conv 1x1
];

test('merged weights equal W + weight·(alpha/rank)·up·down, kohya and diffusers layouts alike, UNet and text encoder', async () => {
  const unetTargets = buildTargets(await load(demo.components.unet));
  const teTargets = buildTargets(await load(demo.components.textEncoder));
  const unetFactors = randomLora('unet', unetTargets, UNET_MODULES, 4, 1);
  const teFactors = randomLora('textEncoder', teTargets, ['te.attn.q', 'te.fc2_1'], 2, 2);
  await install('random-kohya', [...unetFactors, ...teFactors], 'kohya');
  const other = randomLora('unet', unetTargets, ['a1.attn1.q', 'd0.c1'], 3, 3);
  await install('random-peft', other, 'peft');

  const library = new LoraLibrary(join(root, 'loras'));
  const choices = [
    { name: 'random-kohya', weight: 0.8 },
    { name: 'random-peft', weight: -1.5 },
  ];
  const set = await library.fit(demo, choices);
  assert.equal(set.unet.length, 2);
  assert.equal(set.textEncoder.length, 1);

  for (const [component, targets, factorsByWeight] of [
    ['unet', unetTargets, [...unetFactors.map((f) => ({ f, weight: 0.8 })), ...other.map((f) => ({ f, weight: -1.5 }))]],
    ['textEncoder', teTargets, teFactors.map((f) => ({ f, weight: 0.8 }))],
  ] as const) {
    const original = demo.components[component as LoraComponent]!;
    const merged = await mergedFile(original, set[component as LoraComponent]);
    assert.notEqual(merged.path, original);
    assert.ok(merged.fresh);
    const base = await load(original);
    const after = await load(merged.path);
    const modules = new Set(factorsByWeight.map((x) => x.f.module));
    for (const module of modules) {
      const target = (targets as Map<string, Target>).get(module)!;
      const want = expected(await weightOf(base, original, target), factorsByWeight.filter((x) => x.f.module === module), target.shape);
      const got = await weightOf(after, merged.path, target);
      assert.ok(maxDiff(got, want) < 1e-5, `${component} ${module}: merged weight differs from the math by ${maxDiff(got, want)}`);
    }
    // Nothing else changed.
    const changed = new Set([...modules].map((m) => (targets as Map<string, Target>).get(m)!.initializer));
    for (const t of base.graph!.initializer!) {
      if (changed.has(t.name!)) continue;
      const twin = after.graph!.initializer!.find((u) => u.name === t.name)!;
      assert.deepEqual(twin.raw_data ?? twin.float_data, t.raw_data ?? t.float_data, `${t.name} untouched`);
    }
    // Cached: a second call reuses the twin.
    assert.equal((await mergedFile(original, set[component as LoraComponent])).fresh, false);
  }
});

test('a float16 model is merged in float32 and written back as float16', async () => {
  const dir = join(root, 'tiny-fp16');
  await cp(await testModelDir('tiny-sd1-fp16'), dir, { recursive: true });
  const info = await readModelFolder(dir);
  const model = await load(info.components.unet);
  const targets = buildTargets(model);
  const [module, target] = [...targets].find(([, t]) => t.shape.length === 2)!;
  const init = model.graph!.initializer!.find((t) => t.name === target.initializer)!;
  assert.equal(init.data_type, 10, 'the test model stores float16 weights');
  const factors = randomLora('unet', targets, [module], 2, 5);
  await install('fp16-lora', factors, 'kohya');
  const set = await new LoraLibrary(join(root, 'loras')).fit(info, [{ name: 'fp16-lora', weight: 1 }]);
  const merged = await load((await mergedFile(info.components.unet, set.unet)).path);
  const after = merged.graph!.initializer!.find((t) => t.name === target.initializer)!;
  assert.equal(after.data_type, 10, 'still float16');
  const { float16ToFloat32 } = await import('../../../src/engine/runtime/fp16.ts');
  const { halveFloats } = await import('../../../src/engine/onnx/float16-graph.ts');
  const w = float16ToFloat32(new Uint16Array(new Uint8Array(init.raw_data!).buffer));
  const want = float16ToFloat32(halveFloats(expectedStored(w, factors[0]!, target)));
  const got = float16ToFloat32(new Uint16Array(new Uint8Array(after.raw_data!).buffer));
  assert.ok(maxDiff(got, want) === 0, 'float16 of the float32 sum');
});

/** The float32 sum in the file's own orientation. */
function expectedStored(stored: Float32Array, f: Factors, target: Target): Float32Array {
  if (!target.transposed) return expected(stored, [{ f, weight: 1 }], target.shape);
  const [out, inn] = target.shape as [number, number];
  const torch = new Float32Array(stored.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) torch[o * inn + i] = stored[i * out + o]!;
  const sum = expected(torch, [{ f, weight: 1 }], target.shape);
  const back = new Float32Array(stored.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) back[i * out + o] = sum[o * inn + i]!;
  return back;
}

test('an adapter that does not fit is refused naming the LoRA and the key', async () => {
  const library = new LoraLibrary(join(root, 'loras'));
  const targets = buildTargets(await load(demo.components.unet));
  const [good] = randomLora('unet', targets, ['a1.attn1.q'], 2, 7);
  await install('no-such-module', [{ ...good!, module: 'down_blocks.0.attentions.0.proj_in' }], 'kohya');
  await assert.rejects(library.fit(demo, [{ name: 'no-such-module', weight: 1 }]), (err: unknown) => {
    assert.ok(err instanceof EngineInputError);
    assert.equal(err.field, 'loras');
    assert.match(err.message, /"no-such-module".*lora_unet_down_blocks_0_attentions_0_proj_in\.lora_up\.weight/);
    return true;
  });
  // a2.attn1.q is 128 wide, the factors 96.
  await install('wrong-shape', [{ ...good!, module: 'a2.attn1.q' }], 'peft');
  await assert.rejects(library.fit(demo, [{ name: 'wrong-shape', weight: 1 }]), /"wrong-shape" does not fit.*unet\.a2\.attn1\.q\.lora_B\.weight is \[96,2\]·\[2,96\].*\[128,128\]/);
  await assert.rejects(library.fit(demo, [{ name: 'absent', weight: 1 }]), /unknown LoRA "absent" \(installed: .*random-kohya/);
  await writeSafetensors(join(root, 'loras', 'loha.safetensors'), { 'lora_unet_a1_attn1_q.hada_w1_a': { shape: [2, 2], data: new Float32Array(4) } });
  await assert.rejects(library.fit(demo, [{ name: 'loha', weight: 1 }]), /LoRA "loha": key .*hada_w1_a.*LyCORIS/);
});

test('merged sets beyond the bound are evicted, least recently used first, with what was derived from them', async () => {
  const dir = join(root, 'evict');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo', 'text_encoder'), dir, { recursive: true });
  const info = { ...demo, components: { ...demo.components, textEncoder: join(dir, 'model.onnx') } };
  const targets = buildTargets(await load(info.components.textEncoder));
  await install('evict', randomLora('textEncoder', targets, ['te.attn.v'], 1, 9), 'kohya');
  const library = new LoraLibrary(join(root, 'loras'));
  const paths: string[] = [];
  for (const [k, weight] of [0.1, 0.2, 0.3].entries()) {
    const set = await library.fit(info, [{ name: 'evict', weight }]);
    const r = await mergedFile(info.components.textEncoder, set.textEncoder, 2);
    paths.push(r.path);
    if (k === 0) await cp(r.path, r.path.replace(/\.onnx$/, '.optimized.onnx')); // something derived from it
    await utimes(r.path, new Date(Date.now() - (10 - k) * 60_000), (await stat(r.path)).mtime); // used in turn, minutes apart
  }
  const left = (await readdir(dir)).filter((n) => n.includes('.lora-')).sort();
  assert.deepEqual(left, paths.slice(1).map((p) => p.split('/').at(-1)!).sort(), 'the oldest set and the twin derived from it went; the two others stay');
});

test('the target index is saved beside the model file and read back by a new process instead of the graph', async () => {
  const unet = demo.components.unet!;
  const saved = join(unet.replace(/model\.onnx$/, ''), 'model.weight-targets.json');
  await rm(saved, { force: true });
  const newProcess = (n: number) => import(`../../../src/engine/lora/targets.ts?process=${n}`) as Promise<typeof import('../../../src/engine/lora/targets.ts')>;
  const index = await (await newProcess(1)).targetsOf(unet);
  assert.deepEqual(index, buildTargets(await load(unet)));
  const stored = new Map(JSON.parse(await readFile(saved, 'utf8')) as [string, Target][]);
  assert.deepEqual(stored, index);
  // A module instance of its own stands for a new process: it must take the saved index, here cut to one entry.
  const [first] = stored;
  await writeFile(saved, JSON.stringify([first]));
  const fresh = await newProcess(2);
  assert.deepEqual([...(await fresh.targetsOf(unet))], [first]);
  // An older index than the model file is not trusted.
  const past = new Date(Date.now() - 60_000);
  await utimes(saved, past, past);
  const third = await newProcess(3);
  assert.equal((await third.targetsOf(unet)).size, index.size);
});
