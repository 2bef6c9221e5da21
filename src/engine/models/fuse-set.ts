/**
 * The fused twin of a model file: the fusions chosen by name (fuse-names.ts, DARKROOM_FUSIONS)
 * applied in ONNX Runtime's order (attention first, then its packed projections; BiasAdd last, as it
 * reads SkipLayerNormalization's sum). The set is part of the twin's file name, so a changed set makes
 * a new twin.
 */
import { dirname } from 'node:path';
import { ExternalDataReader, isExternal } from '../onnx/external-data.ts';
import { DataType, type ModelProto, type TensorProto } from '../onnx/proto.ts';
import { fuseAttention } from './fuse-attention.ts';
import { fuseBiasAdd } from './fuse-bias-add.ts';
import { fuseBiasSplitGelu } from './fuse-bias-split-gelu.ts';
import { fuseGroupNorm } from './fuse-group-norm.ts';
import { FUSIONS, type FusionName } from './fuse-names.ts';
import { fusePackedQkv, type TensorReader } from './fuse-packed-qkv.ts';
import { fuseSkipLayerNorm } from './fuse-skip-layer-norm.ts';

const REWRITES: Record<Exclude<FusionName, 'attention' | 'packed-qkv'>, (model: ModelProto) => number> = {
  'skip-layer-norm': fuseSkipLayerNorm,
  'group-norm': fuseGroupNorm,
  'bias-split-gelu': fuseBiasSplitGelu,
  'bias-add': fuseBiasAdd,
};

export interface FusionReport {
  /** Patterns fused, per fusion applied. */
  fused: Partial<Record<FusionName, number>>;
  nodesBefore: number;
  nodesAfter: number;
}

/** The bytes of a tensor held in the model (raw or typed fields); `external` reads the others. */
export function tensorReader(external?: TensorReader): TensorReader {
  return async (t: TensorProto) => {
    if (isExternal(t)) {
      if (!external) throw new Error(`tensor ${t.name} is in external data and no reader was given`);
      return external(t);
    }
    if (t.raw_data) return t.raw_data;
    if (t.data_type === DataType.FLOAT) return new Uint8Array(Float32Array.from(t.float_data ?? []).buffer);
    if (t.data_type === DataType.FLOAT16) return new Uint8Array(Uint16Array.from(t.int32_data ?? []).buffer);
    throw new Error(`tensor ${t.name}: no data to read`);
  };
}

/**
 * Rewrites `model` in place with the fusions of `names`; returns what each did. `read` gives the
 * bytes of weights packed anew (packed-qkv), wherever the model keeps them.
 */
export async function applyFusions(model: ModelProto, names: readonly FusionName[], read: TensorReader = tensorReader()): Promise<FusionReport> {
  const nodesBefore = model.graph?.node?.length ?? 0;
  const fused: FusionReport['fused'] = {};
  for (const name of FUSIONS) {
    if (!names.includes(name)) continue;
    fused[name] = name === 'attention' ? fuseAttention(model).attention : name === 'packed-qkv' ? await fusePackedQkv(model, read) : REWRITES[name](model);
  }
  return { fused, nodesBefore, nodesAfter: model.graph?.node?.length ?? 0 };
}

/** Tensors up to this many elements are read in for the rewrites: norm scales, biases (SD's widest is 10240). */
const SMALL_TENSOR = 1 << 16;

/**
 * Reads the small tensors of `model` kept in its external data file into the model, so that the
 * rewrites see the values of norm weights and biases (an export keeps every tensor above 1 KB there);
 * the twin then holds them itself, and the large weights stay in the data file it shares.
 */
export async function readSmallTensors(model: ModelProto, modelPath: string): Promise<void> {
  const reader = new ExternalDataReader(modelPath, dirname(modelPath));
  try {
    for (const t of model.graph?.initializer ?? []) {
      if (!isExternal(t) || (t.dims ?? []).reduce((a, b) => a * b, 1) > SMALL_TENSOR) continue;
      t.raw_data = await reader.read(t);
      delete t.data_location;
      delete t.external_data;
    }
  } finally {
    await reader.close();
  }
}

/** The derived-file tag of the twin with `names` fused: `optimized` for attention alone, as before sets existed. */
export function fusionTag(names: readonly FusionName[]): string {
  const set = FUSIONS.filter((f) => names.includes(f));
  return set.join() === 'attention' ? 'optimized' : `optimized-${set.join('+')}`;
}

/** One line for the log: "10 attention blocks fused, 10 skip-layer-norm, 900 → 700 nodes". */
export function describeFusions(r: FusionReport): string {
  const total = Object.values(r.fused).reduce((a, b) => a + b, 0);
  if (!total) return r.fused.attention !== undefined && Object.keys(r.fused).length === 1 ? 'no attention to fuse' : 'nothing to fuse';
  const parts = Object.entries(r.fused).map(([name, n]) => (name === 'attention' ? `${n} attention blocks fused` : `${n} ${name}`));
  return `${parts.join(', ')}, ${r.nodesBefore} → ${r.nodesAfter} nodes`;
}
