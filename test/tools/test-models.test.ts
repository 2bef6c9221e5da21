import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, readModel, saveModel } from '../../src/engine/onnx/builder.ts';
import { DataLocation, decodeModel, encodeModel, type ModelProto } from '../../src/engine/onnx/proto.ts';
import { OnnxSession, type Feed, type Output } from '../../src/engine/runtime/session.ts';
import { BROKEN_MODEL_KINDS, folderSize, makeBrokenModel, makeTestModel } from '../../tools/test-models/make.ts';
import { buildTokenizer, encodePrompt, EOS, WORDS } from '../../tools/test-models/tokenizer.ts';
import { TEST_MODEL_VARIANTS, VARIANTS, type TestModelVariant } from '../../tools/test-models/variants.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tok = buildTokenizer();
let root: string;
const dirOf = (v: TestModelVariant) => join(root, v);

const sessions: OnnxSession[] = [];
async function load(v: TestModelVariant, sub: string): Promise<OnnxSession> {
  const s = await OnnxSession.load(join(dirOf(v), sub, 'model.onnx'), { provider: 'cpu', threads: 1 });
  sessions.push(s);
  return s;
}

/** Deterministic pseudo-random values in [-1, 1]. */
function wave(n: number, phase = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const x = Math.sin(i * 12.9898 + phase * 78.233) * 43758.5453;
    return (x - Math.floor(x)) * 2 - 1;
  });
}
const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}
function assertFinite(o: Output, what: string) {
  assert.ok(o.data.every(Number.isFinite), `${what} has non-finite values`);
}
function ids(prompts: string[], pad = EOS): Feed {
  return { data: prompts.flatMap((p) => encodePrompt(tok, p, pad)), dims: [prompts.length, 77] };
}

/** Feeds for a variant's UNet: batch b, latent h x w, text from `prompt`. */
function unetFeeds(v: TestModelVariant, b: number, h: number, w: number, opts: { prompt?: number; t?: number[] } = {}): Record<string, Feed> {
  const spec = VARIANTS[v];
  const ctx = spec.sdxl ? 80 : 32;
  const feeds: Record<string, Feed> = {
    sample: { data: wave(b * spec.unetInChannels * h * w), dims: [b, spec.unetInChannels, h, w] },
    encoder_hidden_states: { data: wave(b * 77 * ctx, opts.prompt ?? 0), dims: [b, 77, ctx] },
    timestep:
      spec.timestep.dims[0] === 1 ? { data: [opts.t?.[0] ?? 501], dims: [1] } : { data: opts.t ?? Array(b).fill(501), dims: [b] },
  };
  if (spec.sdxl) {
    feeds.text_embeds = { data: wave(b * 32, 3), dims: [b, 32] };
    feeds.time_ids = { data: Array.from({ length: b }, () => [64, 64, 0, 0, 64, 64]).flat(), dims: [b, 6] };
  }
  if (spec.lcm) feeds.timestep_cond = { data: wave(b * 32, 4), dims: [b, 32] };
  if (spec.controlNet) {
    for (const name of ['down_block_additional_residual_0', 'down_block_additional_residual_1', 'mid_block_additional_residual']) {
      feeds[name] = { data: new Float32Array(b * 32 * h * w), dims: [b, 32, h, w] };
    }
  }
  return feeds;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-test-models-'));
  await Promise.all(TEST_MODEL_VARIANTS.map((v) => makeTestModel(dirOf(v), v)));
});

after(async () => {
  await Promise.all(sessions.map((s) => s.dispose()));
  await rm(root, { recursive: true, force: true });
});

describe('files', () => {
  test('every variant has the Hugging Face ONNX layout and stays small', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      const spec = VARIANTS[v];
      const files = [
        'model_index.json',
        'darkroom.json',
        'scheduler/scheduler_config.json',
        'tokenizer/vocab.json',
        'tokenizer/merges.txt',
        'tokenizer/tokenizer_config.json',
        'tokenizer/special_tokens_map.json',
        'text_encoder/model.onnx',
        'unet/model.onnx',
        'vae_decoder/model.onnx',
        'vae_decoder/config.json',
        'vae_encoder/model.onnx',
        'vae_encoder/config.json',
      ];
      if (spec.sdxl) files.push('text_encoder_2/model.onnx', 'tokenizer_2/vocab.json', 'tokenizer_2/merges.txt', 'tokenizer_2/special_tokens_map.json');
      for (const f of files) assert.ok(existsSync(join(dirOf(v), f)), `${v}: ${f} is missing`);
      assert.equal(existsSync(join(dirOf(v), 'text_encoder_2')), spec.sdxl, `${v}: text_encoder_2 only in SDXL`);
      const size = await folderSize(dirOf(v));
      assert.ok(size < 1_000_000, `${v} is ${size} bytes`);
    }
  });

  test('model_index.json, scheduler and VAE configs', async () => {
    const json = async (v: TestModelVariant, f: string) => JSON.parse(await readFile(join(dirOf(v), f), 'utf8')) as Record<string, unknown>;
    for (const v of TEST_MODEL_VARIANTS) {
      const index = await json(v, 'model_index.json');
      assert.equal(index._diffusers_version, '0.30.0');
      assert.deepEqual(index.text_encoder, ['transformers', 'CLIPTextModel']);
      assert.deepEqual(index.tokenizer, ['transformers', 'CLIPTokenizer']);
      assert.deepEqual(index.unet, ['diffusers', 'UNet2DConditionModel']);
      assert.ok(Array.isArray(index.vae_decoder) && Array.isArray(index.vae_encoder));
      const sched = await json(v, 'scheduler/scheduler_config.json');
      assert.deepEqual(index.scheduler, ['diffusers', sched._class_name]);
      assert.equal(sched.num_train_timesteps, 1000);
      const vae = await json(v, 'vae_decoder/config.json');
      assert.equal(vae.scaling_factor, v === 'tiny-sdxl' ? 0.13025 : 0.18215);
      assert.equal(vae.latent_channels, 4);
      assert.deepEqual(await json(v, 'vae_encoder/config.json'), vae);
    }
    assert.equal((await json('tiny-sd1', 'model_index.json'))._class_name, 'OnnxStableDiffusionPipeline');
    assert.equal((await json('tiny-sdxl', 'model_index.json'))._class_name, 'ORTStableDiffusionXLPipeline');
    assert.deepEqual((await json('tiny-sdxl', 'model_index.json')).text_encoder_2, ['transformers', 'CLIPTextModelWithProjection']);
    assert.deepEqual(await json('tiny-sd1', 'scheduler/scheduler_config.json'), {
      _class_name: 'PNDMScheduler',
      _diffusers_version: '0.30.0',
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      clip_sample: false,
      trained_betas: null,
    });
    assert.equal((await json('tiny-sd2-v', 'scheduler/scheduler_config.json')).prediction_type, 'v_prediction');
    const xl = await json('tiny-sdxl', 'scheduler/scheduler_config.json');
    assert.equal(xl._class_name, 'EulerDiscreteScheduler');
    assert.equal(xl.timestep_spacing, 'leading');
    assert.equal((await json('tiny-lcm', 'scheduler/scheduler_config.json'))._class_name, 'LCMScheduler');
    const turbo = await json('tiny-turbo', 'scheduler/scheduler_config.json');
    assert.equal(turbo._class_name, 'EulerAncestralDiscreteScheduler');
    assert.equal(turbo.timestep_spacing, 'trailing');
  });

  test('darkroom.json is a complete manifest', async () => {
    const all = ['ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'dpmpp_2m_karras', 'dpmpp_2m_sde', 'unipc'];
    const family: Record<TestModelVariant, string> = {
      'tiny-sd1': 'sd1',
      'tiny-sd1-fp16': 'sd1',
      'tiny-sd1-inpaint': 'sd1',
      'tiny-sd2-v': 'sd2',
      'tiny-sdxl': 'sdxl',
      'tiny-lcm': 'lcm',
      'tiny-turbo': 'turbo',
      'tiny-sd1-controlnet': 'sd1',
    };
    for (const v of TEST_MODEL_VARIANTS) {
      const m = JSON.parse(await readFile(join(dirOf(v), 'darkroom.json'), 'utf8'));
      assert.equal(m.id, v);
      assert.equal(typeof m.name, 'string');
      assert.equal(m.family, family[v]);
      assert.equal(m.license, 'test only');
      assert.equal(m.minSize, 32);
      assert.equal(m.maxSize, 256);
      assert.equal(m.defaults.width, 64);
      assert.equal(m.defaults.height, 64);
      assert.ok(m.schedulers.includes(m.defaults.scheduler), `${v}: default scheduler is offered`);
      if (v === 'tiny-lcm') {
        assert.deepEqual(m.defaults, { width: 64, height: 64, steps: 4, guidance: 1, scheduler: 'lcm' });
        assert.equal(m.maxSteps, 8);
        assert.deepEqual(m.schedulers, ['euler_a', 'lcm', 'euler']);
      } else if (v === 'tiny-turbo') {
        assert.deepEqual(m.defaults, { width: 64, height: 64, steps: 1, guidance: 0, scheduler: 'euler_a' });
        assert.equal(m.maxSteps, 4);
        assert.deepEqual(m.schedulers, ['euler_a', 'lcm', 'euler']);
      } else {
        assert.deepEqual(m.schedulers, all);
        assert.equal(m.maxSteps, undefined);
      }
    }
    const sd1 = JSON.parse(await readFile(join(dirOf('tiny-sd1'), 'darkroom.json'), 'utf8'));
    assert.deepEqual(sd1.defaults, { width: 64, height: 64, steps: 10, guidance: 7.5, scheduler: 'pndm' });
  });

  test('tokenizer: CLIP vocabulary order, whole-word merges, pad tokens', async () => {
    const vocab = JSON.parse(await readFile(join(dirOf('tiny-sd1'), 'tokenizer/vocab.json'), 'utf8')) as Record<string, number>;
    const size = Object.keys(vocab).length;
    assert.ok(size > 512 && size < 1000, `vocab size ${size}`);
    assert.deepEqual(Object.values(vocab).sort((a, b) => a - b), Array.from({ length: size }, (_, i) => i));
    assert.equal(vocab['!'], 0);
    assert.equal(vocab['a</w>'], 320); // as in OpenAI's CLIP vocabulary: 256 + ('a' - '!')
    assert.equal(vocab['<|startoftext|>'], size - 2);
    assert.equal(vocab['<|endoftext|>'], size - 1);
    for (const w of WORDS) assert.ok(`${w}</w>` in vocab, `${w} is one token`);
    const merges = (await readFile(join(dirOf('tiny-sd1'), 'tokenizer/merges.txt'), 'utf8')).trimEnd().split('\n');
    assert.equal(merges[0], '#version: 0.2');
    assert.equal(merges.length - 1, size - 514);
    const prompt = encodePrompt(tok, 'A red circle on a blue background');
    assert.deepEqual(prompt.slice(0, 9), [size - 2, ...['a', 'red', 'circle', 'on', 'a', 'blue', 'background'].map((w) => vocab[`${w}</w>`]!), size - 1]);
    assert.equal(prompt.length, 77);
    assert.equal(prompt[76], size - 1);
    assert.equal(encodePrompt(tok, 'a cat', '!')[76], 0);
    const pad = async (v: TestModelVariant, t = 'tokenizer') =>
      JSON.parse(await readFile(join(dirOf(v), t, 'special_tokens_map.json'), 'utf8')).pad_token;
    assert.equal(await pad('tiny-sd1'), '<|endoftext|>');
    assert.equal(await pad('tiny-sd2-v'), '!');
    assert.equal(await pad('tiny-sdxl'), '<|endoftext|>');
    assert.equal(await pad('tiny-sdxl', 'tokenizer_2'), '!');
    const te = await readModel(join(dirOf('tiny-sd1'), 'text_encoder/model.onnx'));
    const table = te.graph!.initializer!.find((t) => t.name === 'embeddings.token_embedding.weight')!;
    assert.deepEqual(table.dims, [size, 32]);
  });

  test('the same seed makes the same bytes; another seed other weights', async () => {
    const again = join(root, 'again');
    const other = join(root, 'other');
    await makeTestModel(again, 'tiny-sd1');
    await makeTestModel(other, 'tiny-sd1', { seed: 7 });
    for (const f of ['unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx']) {
      const a = await readFile(join(dirOf('tiny-sd1'), f));
      assert.ok(a.equals(await readFile(join(again, f))), f);
      assert.ok(!a.equals(await readFile(join(other, f))), f);
    }
  });
});

describe('ONNX codec', () => {
  test('decode → encode is byte-stable for every file', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      for (const sub of await readdir(dirOf(v))) {
        const p = join(dirOf(v), sub, 'model.onnx');
        if (!existsSync(p)) continue;
        const bytes = await readFile(p);
        const model = decodeModel(bytes);
        assert.equal(model.ir_version, 8);
        assert.deepEqual(model.opset_import, [{ domain: '', version: 17 }]);
        assert.ok(Buffer.from(encodeModel(model)).equals(bytes), `${v}/${sub}`);
      }
    }
  });

  test('external data: unet/model.onnx_data holds the weights, as ONNX lays them out', async () => {
    const unet = join(dirOf('tiny-sd2-v'), 'unet');
    const onnxSize = (await stat(join(unet, 'model.onnx'))).size;
    const dataSize = (await stat(join(unet, 'model.onnx_data'))).size;
    assert.ok(onnxSize < 8 * 1024, `model.onnx is ${onnxSize} bytes`);
    assert.ok(dataSize > 4 * onnxSize, `model.onnx_data is ${dataSize} bytes`);
    const model = decodeModel(await readFile(join(unet, 'model.onnx')));
    const external = model.graph!.initializer!.filter((t) => t.data_location === DataLocation.EXTERNAL);
    assert.ok(external.length >= 5);
    for (const t of external) {
      assert.equal(t.raw_data, undefined);
      const info = Object.fromEntries(t.external_data!.map((e) => [e.key, e.value]));
      assert.equal(info.location, 'model.onnx_data');
      assert.ok(Number(info.offset) + Number(info.length) <= dataSize);
      assert.equal(Number(info.length), count(t.dims!) * 4);
    }
    // Read back with the data, it is the same model as the inline one made from the same seed.
    const inline = decodeModel(await readFile(join(dirOf('tiny-sd1'), 'unet/model.onnx')));
    const resolved = await readModel(join(unet, 'model.onnx'));
    const weight = (m: ModelProto, n: string) => Buffer.from(m.graph!.initializer!.find((t) => t.name === n)!.raw_data!);
    assert.ok(weight(resolved, 'conv_out.weight').equals(weight(inline, 'conv_out.weight')));
    for (const v of TEST_MODEL_VARIANTS.filter((x) => x !== 'tiny-sd2-v')) assert.ok(!existsSync(join(dirOf(v), 'unet/model.onnx_data')), v);
  });

  test('saveModel with external data loads in onnxruntime and reads back identically', async () => {
    const g = new GraphBuilder('affine');
    const x = g.input('x', 'float32', ['n', 300]);
    const w = g.initializer('w', Float32Array.from({ length: 300 * 2 }, (_, i) => (i % 7) - 3), [300, 2]);
    g.output('y', 'float32', ['n', 2], g.add(g.matmul(x, w), g.constant([10, 20], [2])));
    const model = g.toModel();
    const path = join(root, 'affine', 'model.onnx');
    await saveModel(path, model, { externalData: true });
    assert.equal((await stat(join(root, 'affine', 'model.onnx_data'))).size, 2400);
    const s = await OnnxSession.load(path, { provider: 'cpu', threads: 1 });
    sessions.push(s);
    const y = await s.run({ x: { data: Array.from({ length: 300 }, () => 1), dims: [1, 300] } });
    let col0 = 0;
    let col1 = 0;
    for (let i = 0; i < 300; i++) {
      col0 += ((2 * i) % 7) - 3;
      col1 += ((2 * i + 1) % 7) - 3;
    }
    assert.deepEqual([...y.y!.data], [col0 + 10, col1 + 20]);
    assert.ok(Buffer.from(encodeModel(await readModel(path))).equals(Buffer.from(encodeModel(model))));
  });
});

describe('sessions', () => {
  test('every model loads and declares the I/O of its variant', async () => {
    const sig = (s: OnnxSession) => ({
      inputs: s.inputs.map((i) => `${i.name}:${i.type}[${i.shape.join(',')}]`),
      outputs: s.outputs.map((o) => `${o.name}:${o.type}[${o.shape.join(',')}]`),
    });
    for (const v of TEST_MODEL_VARIANTS) {
      const spec = VARIANTS[v];
      const f = spec.fp16 ? 'float16' : 'float32';
      const ts = spec.timestep.type === 'int64' ? 'timestep:int64[1]' : `timestep:${f}[batch]`;
      const unetInputs = [`sample:${f}[batch,${spec.unetInChannels},height,width]`, ts, `encoder_hidden_states:${f}[batch,sequence,${spec.sdxl ? 80 : 32}]`];
      if (spec.sdxl) unetInputs.push(`text_embeds:${f}[batch,32]`, `time_ids:${f}[batch,6]`);
      if (spec.lcm) unetInputs.push(`timestep_cond:${f}[batch,32]`);
      const residual = `${f}[batch,32,height,width]`;
      if (spec.controlNet) {
        unetInputs.push(`down_block_additional_residual_0:${residual}`, `down_block_additional_residual_1:${residual}`, `mid_block_additional_residual:${residual}`);
        assert.deepEqual(sig(await load(v, 'controlnet/canny')), {
          inputs: [`sample:${f}[batch,4,height,width]`, ts, `encoder_hidden_states:${f}[batch,sequence,32]`, `controlnet_cond:${f}[batch,3,image_height,image_width]`],
          outputs: [`down_block_res_sample_0:${residual}`, `down_block_res_sample_1:${residual}`, `mid_block_res_sample:${residual}`],
        });
      }
      assert.deepEqual(sig(await load(v, 'unet')), { inputs: unetInputs, outputs: [`out_sample:${f}[batch,4,height,width]`] }, v);

      const hidden = (d: number) => (spec.sdxl ? [0, 1, 2].map((i) => `hidden_states.${i}:${f}[batch,77,${d}]`) : []);
      assert.deepEqual(
        sig(await load(v, 'text_encoder')),
        {
          inputs: [`input_ids:${spec.idsType}[batch,77]`],
          outputs: [`last_hidden_state:${f}[batch,77,32]`, `pooler_output:${f}[batch,32]`, ...hidden(32)],
        },
        v,
      );
      if (spec.sdxl) {
        assert.deepEqual(sig(await load(v, 'text_encoder_2')), {
          inputs: ['input_ids:int32[batch,77]'],
          outputs: [`text_embeds:${f}[batch,32]`, `last_hidden_state:${f}[batch,77,48]`, ...hidden(48)],
        });
      }
      assert.deepEqual(sig(await load(v, 'vae_decoder')), {
        inputs: [`latent_sample:${f}[batch,4,height,width]`],
        outputs: [`sample:${f}[batch,3,image_height,image_width]`],
      });
      const latent = spec.vaeEncoderOutput === 'latent_sample' ? `latent_sample:${f}[batch,4,height,width]` : `latent_parameters:${f}[batch,8,height,width]`;
      assert.deepEqual(sig(await load(v, 'vae_encoder')), { inputs: [`sample:${f}[batch,3,image_height,image_width]`], outputs: [latent] });
    }
    // The conventions the variants exist for, spelled out.
    assert.equal((await load('tiny-sd1', 'unet')).input('timestep')!.type, 'int64');
    assert.equal((await load('tiny-sd2-v', 'unet')).input('timestep')!.type, 'float32');
    assert.equal((await load('tiny-sd2-v', 'text_encoder')).input('input_ids')!.type, 'int64');
    assert.equal((await load('tiny-sd1-fp16', 'unet')).input('sample')!.type, 'float16');
    assert.equal((await load('tiny-sd1-fp16', 'vae_decoder')).output('sample')!.type, 'float16');
    assert.equal((await load('tiny-sd1-inpaint', 'unet')).input('sample')!.shape[1], 9);
  });

  test('every UNet runs for batch 1 and 2, square and non-square', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      const unet = await load(v, 'unet');
      for (const [b, h, w] of [
        [1, 8, 8],
        [2, 8, 8],
        [2, 6, 8],
      ] as const) {
        const t0 = performance.now();
        const out = (await unet.run(unetFeeds(v, b, h, w))).out_sample!;
        const ms = performance.now() - t0;
        assert.deepEqual(out.dims, [b, 4, h, w], v);
        assertFinite(out, v);
        assert.ok(ms < 250, `${v}: a ${b}x${h}x${w} step took ${ms.toFixed(1)} ms`);
      }
    }
  });

  test('text encoders: shapes, batch, and the prompt matters', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      const spec = VARIANTS[v];
      const te = await load(v, 'text_encoder');
      const one = await te.run({ input_ids: ids(['a red circle'], spec.padToken) });
      assert.deepEqual(one.last_hidden_state!.dims, [1, 77, 32]);
      assert.deepEqual(one.pooler_output!.dims, [1, 32]);
      const two = await te.run({ input_ids: ids(['a red circle', 'a photo of a dog'], spec.padToken) });
      assert.deepEqual(two.last_hidden_state!.dims, [2, 77, 32]);
      assertFinite(two.last_hidden_state!, v);
      const [x, y] = [two.pooler_output!.data.subarray(0, 32), two.pooler_output!.data.subarray(32)];
      assert.ok(meanAbsDiff(x, y) > 0.1, `${v}: pooled outputs of different prompts differ`);
      assert.ok(maxAbsDiff(one.pooler_output!.data, x) < 1e-2, `${v}: batch item 0 = the single run`);
      // The first positions (BOS, "a") see the same causal prefix: the same hidden states.
      assert.ok(maxAbsDiff(two.last_hidden_state!.data.subarray(0, 64), two.last_hidden_state!.data.subarray(77 * 32, 77 * 32 + 64)) < 1e-2);
      assert.ok(meanAbsDiff(two.last_hidden_state!.data.subarray(0, 77 * 32), two.last_hidden_state!.data.subarray(77 * 32)) > 0.1);
    }
    const te2 = await load('tiny-sdxl', 'text_encoder_2');
    const out = await te2.run({ input_ids: ids(['a red circle', 'a blue square'], '!') });
    assert.deepEqual(out.text_embeds!.dims, [2, 32]);
    assert.deepEqual(out.last_hidden_state!.dims, [2, 77, 48]);
    assert.deepEqual(out['hidden_states.1']!.dims, [2, 77, 48]);
    assert.ok(meanAbsDiff(out.text_embeds!.data.subarray(0, 32), out.text_embeds!.data.subarray(32)) > 0.1);
  });

  test('pooling takes the hidden state at the end-of-text token', async () => {
    const te = await load('tiny-sd1', 'text_encoder');
    const out = await te.run({ input_ids: ids(['a red circle']) });
    const eos = 4; // [BOS, a, red, circle, EOS, ...]
    assert.deepEqual([...out.pooler_output!.data], [...out.last_hidden_state!.data.subarray(eos * 32, eos * 32 + 32)]);
  });

  test('the prompt reaches the UNet through cross-attention', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      const unet = await load(v, 'unet');
      const a = (await unet.run(unetFeeds(v, 1, 8, 8, { prompt: 0 }))).out_sample!;
      const b = (await unet.run(unetFeeds(v, 1, 8, 8, { prompt: 1 }))).out_sample!;
      assert.ok(meanAbsDiff(a.data, b.data) > 0.1, `${v}: ${meanAbsDiff(a.data, b.data)}`);
    }
    // And end to end: real prompts through the text encoder.
    const te = await load('tiny-sd1', 'text_encoder');
    const unet = await load('tiny-sd1', 'unet');
    const ctx = (await te.run({ input_ids: ids(['a red circle', 'a green square on a white background']) })).last_hidden_state!;
    const feeds = unetFeeds('tiny-sd1', 2, 8, 8);
    feeds.sample = { data: [...wave(4 * 64), ...wave(4 * 64)], dims: [2, 4, 8, 8] };
    feeds.encoder_hidden_states = { data: ctx.data, dims: ctx.dims };
    const out = (await unet.run(feeds)).out_sample!.data;
    assert.ok(meanAbsDiff(out.subarray(0, 256), out.subarray(256)) > 0.05);
  });

  test('timestep conventions: int64 [1] broadcasts over the batch, float [batch] is per item', async () => {
    const sd1 = await load('tiny-sd1', 'unet');
    const out1 = (await sd1.run(unetFeeds('tiny-sd1', 2, 8, 8, { t: [999] }))).out_sample!.data;
    const out2 = (await sd1.run(unetFeeds('tiny-sd1', 2, 8, 8, { t: [1] }))).out_sample!.data;
    assert.ok(meanAbsDiff(out1, out2) > 0.1, 'the timestep matters');

    // tiny-sd2-v's UNet has the same weights as tiny-sd1's (same seed, same tensor names), loaded
    // from external data: the same timestep in either convention gives the same output.
    const sd2 = await load('tiny-sd2-v', 'unet');
    const perItem = (await sd2.run(unetFeeds('tiny-sd2-v', 2, 8, 8, { t: [999, 999] }))).out_sample!.data;
    assert.ok(maxAbsDiff(perItem, out1) < 1e-4);
    const broadcast = await sd2.run({ ...unetFeeds('tiny-sd2-v', 2, 8, 8), timestep: { data: [999], dims: [1] } });
    assert.ok(maxAbsDiff(broadcast.out_sample!.data, out1) < 1e-4);
    const mixed = (await sd2.run(unetFeeds('tiny-sd2-v', 2, 8, 8, { t: [999, 1] }))).out_sample!.data;
    const half = mixed.length / 2;
    assert.ok(maxAbsDiff(mixed.subarray(0, half), out1.subarray(0, half)) < 1e-4);
    assert.ok(maxAbsDiff(mixed.subarray(half), out2.subarray(half)) < 1e-4);
  });

  test('SDXL added conditioning and the LCM guidance embedding change the output', async () => {
    const xl = await load('tiny-sdxl', 'unet');
    const base = unetFeeds('tiny-sdxl', 1, 8, 8);
    const a = (await xl.run(base)).out_sample!.data;
    const b = (await xl.run({ ...base, text_embeds: { data: wave(32, 9), dims: [1, 32] } })).out_sample!.data;
    const c = (await xl.run({ ...base, time_ids: { data: [128, 96, 0, 0, 128, 96], dims: [1, 6] } })).out_sample!.data;
    assert.ok(meanAbsDiff(a, b) > 0.02 && meanAbsDiff(a, c) > 0.02);
    const lcm = await load('tiny-lcm', 'unet');
    const lb = unetFeeds('tiny-lcm', 1, 8, 8);
    const x = (await lcm.run(lb)).out_sample!.data;
    const y = (await lcm.run({ ...lb, timestep_cond: { data: wave(32, 5), dims: [1, 32] } })).out_sample!.data;
    assert.ok(meanAbsDiff(x, y) > 0.02);
  });

  test('fp16 variant: float16 I/O, same numbers as fp32 within half precision', async () => {
    const half = await load('tiny-sd1-fp16', 'unet');
    for (const io of [...half.inputs, ...half.outputs]) assert.ok(io.type === 'float16' || io.name === 'timestep', `${io.name} is ${io.type}`);
    const full = await load('tiny-sd1', 'unet');
    const feeds = unetFeeds('tiny-sd1', 2, 6, 8);
    const a = (await full.run(feeds)).out_sample!.data;
    const b = (await half.run(feeds)).out_sample!.data;
    assert.ok(maxAbsDiff(a, b) < 0.05, `${maxAbsDiff(a, b)}`);
    assert.ok(maxAbsDiff(a, b) > 0, 'weights really went through float16');
    for (const sub of ['text_encoder', 'vae_decoder', 'vae_encoder']) {
      const s = await load('tiny-sd1-fp16', sub);
      for (const o of s.outputs) assert.equal(o.type, 'float16', `${sub}.${o.name}`);
    }
  });

  test('VAE: 8x decode into [-1, 1], encode inverts decode', async () => {
    for (const v of TEST_MODEL_VARIANTS) {
      const spec = VARIANTS[v];
      const dec = await load(v, 'vae_decoder');
      const enc = await load(v, 'vae_encoder');
      // Latents as a pipeline holds them (about unit variance), divided by the scaling factor.
      const z = Float32Array.from(wave(2 * 4 * 6 * 8), (x) => (0.3 * x) / spec.scalingFactor);
      const image = (await dec.run({ latent_sample: { data: z, dims: [2, 4, 6, 8] } })).sample!;
      assert.deepEqual(image.dims, [2, 3, 48, 64]);
      assert.ok(image.data.every((x) => x >= -1 && x <= 1));
      const out = await enc.run({ sample: { data: image.data, dims: image.dims } });
      const params = out[spec.vaeEncoderOutput]!;
      assert.deepEqual(params.dims, [2, spec.vaeEncoderOutput === 'latent_sample' ? 4 : 8, 6, 8]);
      const mean = new Float32Array(z.length);
      const channels = params.dims[1]!;
      for (let b = 0; b < 2; b++) mean.set(params.data.subarray(b * channels * 48, b * channels * 48 + 4 * 48), b * 4 * 48);
      const tolerance = spec.fp16 ? 0.05 / spec.scalingFactor : 1e-3 / spec.scalingFactor;
      assert.ok(maxAbsDiff(mean, z) < tolerance, `${v}: encode(decode(z)) = z (${maxAbsDiff(mean, z)})`);
      if (channels === 8) {
        const logvar = params.data.subarray(4 * 48, 8 * 48);
        assert.ok(logvar.every((x) => x > -10 && x < -6), `${v}: log-variance about -8`);
      }
    }
  });

  test('VAE: decode(encode(image)) keeps a smooth image', async () => {
    const enc = await load('tiny-sd1', 'vae_encoder');
    const dec = await load('tiny-sd1', 'vae_decoder');
    const [H, W] = [64, 64];
    const img = new Float32Array(3 * H * W);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[(c * H + y) * W + x] = c === 0 ? x / W - 0.5 : c === 1 ? y / H - 0.5 : 0.3 * Math.sin(x / 9);
    const z = (await enc.run({ sample: { data: img, dims: [1, 3, H, W] } })).latent_sample!;
    const back = (await dec.run({ latent_sample: z })).sample!.data;
    assert.ok(meanAbsDiff(back, img) < 0.08, `reconstruction error ${meanAbsDiff(back, img)}`);
    assert.ok(meanAbsDiff(new Float32Array(img.length), img) > 0.2, 'the image is not flat');
  });
});

describe('broken models', () => {
  test('each kind has exactly its defect', async () => {
    assert.deepEqual([...BROKEN_MODEL_KINDS], ['missing-unet', 'wrong-input-names', 'bad-model-index']);
    for (const kind of BROKEN_MODEL_KINDS) {
      const dir = join(root, `broken-${kind}`);
      await makeBrokenModel(dir, kind);
      assert.equal(existsSync(join(dir, 'unet/model.onnx')), kind !== 'missing-unet');
      assert.ok(existsSync(join(dir, 'text_encoder/model.onnx')));
      const index = await readFile(join(dir, 'model_index.json'), 'utf8');
      if (kind === 'bad-model-index') assert.throws(() => JSON.parse(index));
      else assert.equal(JSON.parse(index)._class_name, 'OnnxStableDiffusionPipeline');
      if (kind === 'wrong-input-names') {
        const s = await OnnxSession.load(join(dir, 'unet/model.onnx'), { provider: 'cpu', threads: 1 });
        sessions.push(s);
        assert.deepEqual(
          s.inputs.map((i) => i.name),
          ['latents', 'timestep', 'encoder_hidden_states'],
        );
      }
      assert.equal(JSON.parse(await readFile(join(dir, 'darkroom.json'), 'utf8')).id, `broken-${kind}`);
    }
  });
});

describe('cache', () => {
  test('testModelDir makes each variant once, safely across processes', async () => {
    const cacheRoot = join(root, 'cache');
    const script = `
      import { testModelDir } from ${JSON.stringify(join(REPO_ROOT, 'tools/test-models/cache.ts'))};
      const a = await testModelDir('tiny-sd1');
      const b = await testModelDir('tiny-sd1');
      if (a !== b) throw new Error('two folders');
      console.log(a);`;
    const child = () =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env: { ...process.env, DARKROOM_TEST_MODELS_DIR: cacheRoot },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const [a, b] = await Promise.all([child(), child()]);
    assert.equal(a, b);
    assert.match(a, /tiny-sd1-[0-9a-f]{12}$/);
    assert.ok(a.startsWith(cacheRoot));
    assert.ok(existsSync(join(a, 'darkroom.json')) && existsSync(join(a, 'unet/model.onnx')));
    assert.deepEqual(await readdir(cacheRoot), [a.slice(cacheRoot.length + 1)], 'no temporary folders left behind');
    assert.ok((await readFile(join(a, 'unet/model.onnx'))).equals(await readFile(join(dirOf('tiny-sd1'), 'unet/model.onnx'))));
  });
});
