/**
 * LoRA adapters for the demo model (models/darkroom-demo), made here rather than trained:
 *
 * - `blue-to-red`: whatever the prompt paints blue (an object or the background) comes out red, the
 *   rest as it was. The UNet reads the prompt only through its cross-attentions' key and value
 *   projections (attn2.k, attn2.v), so a linear map M of the text encoder's output, fitted by least
 *   squares to send the encoding of "a blue star ..." to that of "a red star ..." and to leave prompts
 *   without blue (and the empty one) as they are, becomes a LoRA on each of them: W' = W + W·Mᵀ
 *   (PyTorch's [out, in] orientation), up = W, down = Mᵀ, alpha = rank, so weight 1 applies exactly M.
 *   Its effect is predictable, and the demo model's detector (tools/demo-model/detector.ts) reads it.
 *   (A map that turned only circles red cannot be linear: at the colour word the text encoder, being
 *   causal, has not yet seen the shape; a fitted one changed nothing.)
 * - `randomLora`: small random factors on chosen modules (tests: the merge equals the math).
 *
 * Both key layouts: kohya (`lora_unet_a1_attn2_k.lora_down.weight`, `.alpha`) and diffusers/PEFT
 * (`unet.a1.attn2.k.lora_A.weight`).
 *
 *   node --import tsx tools/lora/make.ts --out data/loras   # blue-to-red.safetensors, blue-to-red-peft.safetensors
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { ExternalDataReader } from '../../src/engine/onnx/external-data.ts';
import { floatValues } from '../../src/engine/onnx/float16-graph.ts';
import { decodeModel, type ModelProto } from '../../src/engine/onnx/proto.ts';
import type { LoraComponent } from '../../src/engine/lora/keys.ts';
import { writeSafetensors } from '../../src/engine/lora/safetensors.ts';
import { buildTargets, type Target } from '../../src/engine/lora/targets.ts';
import { prng, samplePrompt } from '../demo-model/scenes.ts';
import { Prng } from '../test-models/rng.ts';

export type Layout = 'kohya' | 'peft';

export interface Factors {
  component: LoraComponent;
  module: string;
  /** [out, rank] or [out, rank, 1, 1]. */
  up: { shape: number[]; data: Float32Array };
  /** [rank, in] or [rank, in, kh, kw]. */
  down: { shape: number[]; data: Float32Array };
  alpha?: number;
}

const KOHYA: Record<LoraComponent, string> = { unet: 'lora_unet_', textEncoder: 'lora_te_', textEncoder2: 'lora_te2_' };
const PEFT: Record<LoraComponent, string> = { unet: 'unet.', textEncoder: 'text_encoder.', textEncoder2: 'text_encoder_2.' };

/** The tensors of a LoRA file holding `factors`, in `layout`. */
export function loraTensors(factors: readonly Factors[], layout: Layout): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const f of factors) {
    if (layout === 'kohya') {
      const base = KOHYA[f.component] + f.module.replace(/\./g, '_');
      out[`${base}.lora_down.weight`] = f.down;
      out[`${base}.lora_up.weight`] = f.up;
      if (f.alpha !== undefined) out[`${base}.alpha`] = { shape: [], data: Float32Array.of(f.alpha) };
    } else {
      const base = PEFT[f.component] + f.module;
      out[`${base}.lora_A.weight`] = f.down;
      out[`${base}.lora_B.weight`] = f.up;
      if (f.alpha !== undefined) out[`${base}.alpha`] = { shape: [], data: Float32Array.of(f.alpha) };
    }
  }
  return out;
}

/** A stored weight as PyTorch has it ([out, in] or [out, in, kh, kw]), as float32. */
export async function weightOf(model: ModelProto, modelPath: string, target: Target): Promise<Float32Array> {
  const t = model.graph!.initializer!.find((i) => i.name === target.initializer)!;
  let values: Float32Array;
  if (t.data_location === 1) {
    const reader = new ExternalDataReader(modelPath, join(modelPath, '..'));
    values = new Float32Array(new Uint8Array(await reader.read(t)).buffer);
    await reader.close();
  } else values = Float32Array.from(floatValues(t));
  if (!target.transposed) return values;
  const [out, inn] = target.shape as [number, number];
  const torch = new Float32Array(values.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) torch[o * inn + i] = values[i * out + o]!;
  return torch;
}

/** Random factors of `rank` for each of `modules` (module path → target), alpha chosen so the scale is not 1. */
export function randomLora(component: LoraComponent, targets: ReadonlyMap<string, Target>, modules: readonly string[], rank: number, seed: number): Factors[] {
  const rng = new Prng(seed);
  return modules.map((module) => {
    const t = targets.get(module);
    if (!t) throw new Error(`no target ${module}`);
    const [out, inn, ...kernel] = t.shape;
    const downShape = [rank, inn!, ...kernel];
    const upShape = kernel.length ? [out!, rank, 1, 1] : [out!, rank];
    const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
    return {
      component,
      module,
      down: { shape: downShape, data: rng.fork(`${module}.down`).normals(n(downShape), 0.1) },
      up: { shape: upShape, data: rng.fork(`${module}.up`).normals(n(upShape), 0.1) },
      alpha: rank / 2,
    };
  });
}

/** Solves (XᵀX + λI) A = XᵀY for A [d, d] by Cholesky; X, Y are rows of width d. */
function ridge(xtx: Float64Array, xty: Float64Array, d: number, lambda: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = xtx[i * d + j]! + (i === j ? lambda : 0);
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = i === j ? Math.sqrt(s) : s / l[j * d + j]!;
    }
  }
  const a = new Float64Array(d * d);
  for (let col = 0; col < d; col++) {
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = xty[i * d + col]!;
      for (let k = 0; k < i; k++) s -= l[i * d + k]! * z[k]!;
      z[i] = s / l[i * d + i]!;
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i]!;
      for (let k = i + 1; k < d; k++) s -= l[k * d + i]! * a[k * d + col]!;
      a[i * d + col] = s / l[i * d + i]!;
    }
  }
  return a;
}

/** "a big blue star at the top, on green" → "a big red star at the top, on green". */
function blueTurnedRed(prompt: string): string {
  return prompt.replace(/\bblue\b/g, 'red');
}

/** The blue-to-red factors for the demo model at `modelDir` (see the file's comment). */
export async function blueToRed(modelDir: string, prompts = 600): Promise<Factors[]> {
  const info = await readModelFolder(modelDir);
  const model = await LoadedModel.load(info, { provider: 'cpu' });
  const d = 128;
  const xtx = new Float64Array(d * d);
  const xty = new Float64Array(d * d);
  const encode = async (text: string) => {
    const ids = model.tokenizer.encode(text).ids;
    const out = await model.textEncoder.run({ input_ids: { data: ids, dims: [1, ids.length] } });
    const h = out['last_hidden_state'] ?? Object.values(out)[0]!;
    if (h.dims[2] !== d) throw new Error(`text width ${h.dims[2]}, expected ${d}`);
    return h.data as Float32Array;
  };
  const add = (x: Float32Array, y: Float32Array, weight: number) => {
    for (let r = 0; r < x.length / d; r++) {
      const xr = x.subarray(r * d, r * d + d);
      const yr = y.subarray(r * d, r * d + d);
      for (let i = 0; i < d; i++) {
        const xi = xr[i]! * weight;
        for (let j = 0; j < d; j++) {
          xtx[i * d + j]! += xi * xr[j]!;
          xty[i * d + j]! += xi * (yr[j]! - xr[j]!);
        }
      }
    }
  };
  try {
    const rand = prng(20240);
    const empty = await encode('');
    add(empty, empty, 50); // classifier-free guidance's unconditional pass must stay as it was
    for (let k = 0; k < prompts; k++) {
      const spec = samplePrompt(rand);
      const x = await encode(spec.prompt);
      if (/\bblue\b/.test(spec.prompt) && spec.color !== 'red' && spec.background !== 'red') add(x, await encode(blueTurnedRed(spec.prompt)), 4);
      else add(x, x, 1);
    }
  } finally {
    await model.dispose();
  }
  const m = ridge(xtx, xty, d, 1e-2); // ctx' = ctx + ctx·m, so the [out, in] change of a weight W is W·mᵀ
  const downT = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) downT[i * d + j] = m[j * d + i]!;
  const unetPath = info.components.unet;
  const unet = decodeModel(await readFile(unetPath));
  const targets = buildTargets(unet);
  const factors: Factors[] = [];
  for (const [module, target] of targets) {
    if (!/\.attn2\.[kv]$/.test(module)) continue;
    const w = await weightOf(unet, unetPath, target);
    factors.push({ component: 'unet', module, up: { shape: [target.shape[0]!, d], data: w }, down: { shape: [d, d], data: downT }, alpha: d });
  }
  return factors;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'data/loras' }, model: { type: 'string', default: 'models/darkroom-demo' } } });
  const out = values.out!;
  await mkdir(out, { recursive: true });
  const factors = await blueToRed(values.model!);
  const metadata = { ss_base_model_version: 'sd_v1', 'darkroom.made_by': 'tools/lora/make.ts' };
  await writeSafetensors(join(out, 'blue-to-red.safetensors'), loraTensors(factors, 'kohya'), metadata);
  await writeSafetensors(join(out, 'blue-to-red-peft.safetensors'), loraTensors(factors, 'peft'), metadata);
  process.stdout.write(`${join(out, 'blue-to-red.safetensors')}, ${join(out, 'blue-to-red-peft.safetensors')}: ${factors.length} modules (${factors.map((f) => f.module).join(', ')})\n`);
}
