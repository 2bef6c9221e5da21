/**
 * Install-time conversion of a model's float32 ONNX files to float16 (onnx/float16-graph.ts): half
 * the weights to read per step and the GPU's half-precision tensor cores, as PyTorch servers run
 * Stable Diffusion. Cached next to the original as `model.fp16.onnx` (derived-file.ts); converted
 * weights that the original kept in external data go to `model.fp16.onnx_data`, written one tensor
 * at a time. A file with nothing in float32 is left as it is.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExternalDataReader, ExternalDataWriter, externalEntries } from '../onnx/external-data.ts';
import { halveFloats, toFloat16Graph, type Float16Graph } from '../onnx/float16-graph.ts';
import { DataLocation } from '../onnx/proto.ts';
import { derivedModelFile, derivedPath } from './derived-file.ts';

export interface Float16Summary {
  /** Float32 constants and weights converted. */
  constants: number;
  /** Nodes left in float32 (sinusoidal embeddings). */
  float32Nodes: number;
}

/** Converts the weights the graph rewrite left pending into `<target>_data`. */
async function writePendingWeights(plan: Float16Graph, modelPath: string, target: string): Promise<void> {
  if (plan.pending.size === 0) return;
  const location = `${basename(target)}_data`;
  const dataPath = join(dirname(target), location);
  const tmp = `${dataPath}.${process.pid}.tmp`;
  const reader = new ExternalDataReader(modelPath, dirname(modelPath));
  const writer = await ExternalDataWriter.create(tmp);
  let written = false;
  try {
    for (const [half, original] of plan.pending) {
      const bytes = await reader.read(original);
      const values = halveFloats(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      const offset = await writer.append(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      half.data_location = DataLocation.EXTERNAL;
      half.external_data = externalEntries({ location, offset, length: values.byteLength });
    }
    written = true;
  } finally {
    await writer.close();
    await reader.close();
    if (!written) await rm(tmp, { force: true });
  }
  await rename(tmp, dataPath); // before the .onnx that refers to it appears
}

/** The float16 twin of `modelPath` (made now when `fresh`; `converted` says what changed), or the file itself when nothing is float32. */
export async function float16File(modelPath: string): Promise<{ path: string; fresh: boolean; converted?: Float16Summary }> {
  let converted: Float16Summary | undefined;
  const { path, fresh } = await derivedModelFile(modelPath, 'fp16', async (model, target) => {
    const plan = toFloat16Graph(model);
    if (!plan) return false;
    await writePendingWeights(plan, modelPath, target);
    converted = { constants: plan.constants, float32Nodes: plan.float32Nodes };
    return plan.model;
  });
  return fresh && converted ? { path, fresh, converted } : { path, fresh };
}

/**
 * Remembers that `modelPath`'s float16 twin made NaN or infinite values (an overflow float32 never
 * hits: SDXL's VAE is the known case), so the file is loaded in float32 from now on; the marker,
 * `model.fp16.refused`, holds the reason and counts until the model file changes.
 */
export async function refuseFloat16(modelPath: string, reason: string): Promise<void> {
  await writeFile(derivedPath(modelPath, 'fp16', '.refused'), `${reason}\n`);
}

export async function float16Refused(modelPath: string): Promise<boolean> {
  try {
    const [marker, model] = await Promise.all([stat(derivedPath(modelPath, 'fp16', '.refused')), stat(modelPath)]);
    return marker.mtimeMs >= model.mtimeMs;
  } catch {
    return false;
  }
}

/** Whether a loaded ONNX file is a float16 twin (possibly rewritten further, for tiling say). */
export function isFloat16Twin(path: string): boolean {
  return basename(path).includes('.fp16.');
}
