/**
 * Merges LoRA adapters into a model file's weights: W' = W + Σ weight · (alpha / rank) · up · down, each
 * product reshaped to the weight's shape and transposed where the file stores it transposed. Float16
 * weights are widened, merged in float32 and narrowed back. Changed weights that the file kept in
 * external data go to the twin's own `<twin>_data`; the unchanged ones stay where they were.
 */
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExternalDataReader, ExternalDataWriter, externalEntries, isExternal } from '../onnx/external-data.ts';
import { floatValues, halveFloats } from '../onnx/float16-graph.ts';
import { DataLocation, DataType, type ModelProto, type TensorProto } from '../onnx/proto.ts';
import { float16ToFloat32 } from '../runtime/fp16.ts';
import type { FittedModule, LoraAdapter } from './adapter.ts';
import { TensorReader } from './safetensors.ts';

export interface WeightedAdapter {
  adapter: LoraAdapter;
  weight: number;
  fitted: FittedModule[];
}

/**
 * w += scale · up [out, r] · down [r, rest], into `w` as stored: [out, rest], or transposed [rest, out].
 * Both loops run along contiguous rows (the transposed case through up transposed, which is small).
 */
export function addLoraProduct(w: Float32Array, up: Float32Array, down: Float32Array, out: number, rank: number, rest: number, scale: number, transposed: boolean): void {
  if (!transposed) {
    for (let o = 0; o < out; o++) {
      const row = w.subarray(o * rest, (o + 1) * rest);
      for (let k = 0; k < rank; k++) {
        const u = up[o * rank + k]! * scale;
        if (u === 0) continue;
        const d = down.subarray(k * rest, (k + 1) * rest);
        for (let j = 0; j < rest; j++) row[j]! += u * d[j]!;
      }
    }
    return;
  }
  const upT = new Float32Array(rank * out);
  for (let o = 0; o < out; o++) for (let k = 0; k < rank; k++) upT[k * out + o] = up[o * rank + k]! * scale;
  for (let i = 0; i < rest; i++) {
    const row = w.subarray(i * out, (i + 1) * out);
    for (let k = 0; k < rank; k++) {
      const d = down[k * rest + i]!;
      if (d === 0) continue;
      const u = upT.subarray(k * out, (k + 1) * out);
      for (let o = 0; o < out; o++) row[o]! += d * u[o]!;
    }
  }
}

/** The scale kohya applies: weight · alpha / rank (alpha defaults to the rank). */
async function scaleOf(reader: TensorReader, f: FittedModule, weight: number): Promise<number> {
  const alpha = f.module.alpha ? (await reader.float32(f.module.alpha))[0]! : f.rank;
  return (weight * alpha) / f.rank;
}

function bytesOf(values: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

async function weightValues(t: TensorProto, external: ExternalDataReader): Promise<Float32Array> {
  const raw = isExternal(t) ? await external.read(t) : t.raw_data;
  if (t.data_type === DataType.FLOAT16) {
    const bytes = raw ? new Uint8Array(raw) : undefined; // a copy: aligned, and not the original's bytes
    return bytes ? float16ToFloat32(new Uint16Array(bytes.buffer)) : float16ToFloat32(Uint16Array.from(t.int32_data ?? []));
  }
  if (t.data_type !== DataType.FLOAT) throw new Error(`${t.name} is neither float32 nor float16`);
  return isExternal(t) ? new Float32Array(new Uint8Array(raw!).buffer) : Float32Array.from(floatValues(t));
}

/**
 * Merges `adapters` into `model` (the file at `modelPath`) in place; external weights go to
 * `<target>_data`. Returns how many weights changed.
 */
export async function mergeAdapters(model: ModelProto, modelPath: string, target: string, adapters: readonly WeightedAdapter[]): Promise<number> {
  const initializers = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  // Each weight once, with every adapter's change to it.
  const changes = new Map<string, { adapter: WeightedAdapter; fitted: FittedModule }[]>();
  for (const a of adapters) {
    for (const f of a.fitted) changes.set(f.target.initializer, [...(changes.get(f.target.initializer) ?? []), { adapter: a, fitted: f }]);
  }
  const readers = new Map<LoraAdapter, TensorReader>();
  const external = new ExternalDataReader(modelPath, dirname(modelPath));
  const location = `${basename(target)}_data`;
  const dataPath = join(dirname(target), location);
  const tmp = `${dataPath}.${process.pid}.tmp`;
  let writer: ExternalDataWriter | undefined;
  let done = false;
  try {
    for (const a of adapters) readers.set(a.adapter, await TensorReader.open(a.adapter.path, a.adapter.header));
    for (const [name, list] of changes) {
      const t = initializers.get(name)!;
      const w = await weightValues(t, external);
      for (const { adapter, fitted } of list) {
        const reader = readers.get(adapter.adapter)!;
        const shape = fitted.target.shape;
        const out = shape[0]!;
        const rest = w.length / out;
        const up = await reader.float32(fitted.module.up!);
        const down = await reader.float32(fitted.module.down!);
        addLoraProduct(w, up, down, out, fitted.rank, rest, await scaleOf(reader, fitted, adapter.weight), fitted.target.transposed);
      }
      const bytes = bytesOf(t.data_type === DataType.FLOAT16 ? halveFloats(w) : w);
      delete t.float_data;
      delete t.int32_data;
      if (isExternal(t)) {
        writer ??= await ExternalDataWriter.create(tmp);
        const offset = await writer.append(bytes);
        t.data_location = DataLocation.EXTERNAL;
        t.external_data = externalEntries({ location, offset, length: bytes.byteLength });
      } else {
        t.raw_data = bytes;
      }
    }
    done = true;
  } finally {
    await writer?.close();
    await external.close();
    await Promise.all([...readers.values()].map((r) => r.close()));
    if (!done) await rm(tmp, { force: true });
  }
  if (writer) await rename(tmp, dataPath); // before the .onnx that refers to it appears
  return changes.size;
}
