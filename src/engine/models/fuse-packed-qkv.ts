/**
 * Packed QKV (ONNX Runtime's FusionAttentionUnet with enable_packed_qkv / enable_packed_kv): the
 * projections feeding a fused attention (fuse-attention.ts) become one MatMul, whose output
 * MultiHeadAttention takes packed. Self-attention's q, k and v, read from the same tokens, become one
 * [B, S, N, 3, H] input; cross-attention's k and v, read from the text states, one [B, L, N, 2, H]:
 *
 *   x ─ MatMul(Wq), MatMul(Wk), MatMul(Wv) ─ MultiHeadAttention(q, k, v)
 *     ⇒  MultiHeadAttention(Reshape[0,0,N,3,H](MatMul(x, W_qkv)))
 *
 * where W_qkv's columns run head by head: head n's q, k, v columns side by side. ONNX Runtime's CPU
 * kernel refuses both packed forms at run time, so this is for CUDA only. The packed weights are
 * written into the twin itself (what SD 1.5 packs is 113 MB in float16); the projections' own
 * weights stay where they were. Packing stops at PACKED_BYTES, well below protobuf's 2 GB per file.
 */
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { attr, FusionGraph, MS_DOMAIN } from './fuse-graph.ts';

const PACKED_BYTES = 1 << 30;
const ELEMENT_BYTES: Record<number, number> = { [DataType.FLOAT]: 4, [DataType.FLOAT16]: 2 };

/** Reads a weight's bytes, wherever they are kept. */
export type TensorReader = (t: TensorProto) => Promise<Uint8Array>;

interface Match {
  mha: NodeProto;
  /** The projections packed: q, k, v (self-attention) or k, v (cross-attention). */
  projections: NodeProto[];
  weights: TensorProto[];
  heads: number;
}

/** W_packed[r, (n·P + j)·H + h] = W_j[r, n·H + h]: head n's columns of each projection side by side. */
function pack(parts: Uint8Array[], rows: number, heads: number, headSize: number, elementBytes: number): Uint8Array {
  const span = headSize * elementBytes;
  const out = new Uint8Array(parts.length * rows * heads * span);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < heads; n++) {
      for (const w of parts) {
        const from = (r * heads + n) * span;
        out.set(w.subarray(from, from + span), o);
        o += span;
      }
    }
  }
  return out;
}

export async function fusePackedQkv(model: ModelProto, read: TensorReader): Promise<number> {
  const g = new FusionGraph(model);
  const initializers = new Map((model.graph!.initializer ?? []).map((t) => [t.name!, t]));
  const matches: Match[] = [];
  let budget = PACKED_BYTES;
  for (const mha of g.nodes) {
    if (mha.op_type !== 'MultiHeadAttention' || mha.domain !== MS_DOMAIN || mha.input!.length !== 3 || mha.input!.some((i) => !i)) continue;
    const heads = attr(mha, 'num_heads')?.i ?? 0;
    const [q, k, v] = mha.input!.map((i) => g.made(i, 'MatMul'));
    if (!q || !k || !v || [q, k, v].some((p) => g.only(p.output![0]!) !== mha)) continue;
    const self = q.input![0] === k.input![0] && k.input![0] === v.input![0];
    if (!self && k.input![0] !== v.input![0]) continue;
    const projections = self ? [q, k, v] : [k, v];
    const weights = projections.map((p) => initializers.get(p.input![1]!));
    const [first] = weights;
    const shape = first?.dims ?? [];
    const element = ELEMENT_BYTES[first?.data_type ?? -1];
    if (!element || shape.length !== 2 || !(heads > 0) || shape[1]! % heads) continue;
    if (weights.some((w) => !w || w.data_type !== first!.data_type || w.dims?.join() !== shape.join())) continue;
    const bytes = weights.length * shape[0]! * shape[1]! * element;
    if (bytes > budget) continue;
    budget -= bytes;
    matches.push({ mha, projections, weights: weights as TensorProto[], heads });
  }
  for (const m of matches) {
    const [rows, width] = m.weights[0]!.dims!;
    const headSize = width! / m.heads;
    const parts = m.weights.length;
    const packed = pack(await Promise.all(m.weights.map(read)), rows!, m.heads, headSize, ELEMENT_BYTES[m.weights[0]!.data_type!]!);
    const name = g.fresh(`PackedQkv_${g.count}`);
    const weight = g.addInitializer({ name: `${name}_weight`, dims: [rows!, width! * parts], data_type: m.weights[0]!.data_type!, raw_data: packed });
    const shape = g.addInitializer({ name: `${name}_shape`, dims: [5], data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.from([0n, 0n, BigInt(m.heads), BigInt(parts), BigInt(headSize)]).buffer) });
    const projected = g.fresh(`${name}_projected`);
    const heads = g.fresh(`${name}_heads`);
    const input = m.projections[0]!.input![0]!;
    g.replace([...m.projections, m.mha], [
      { name: `${name}_matmul`, op_type: 'MatMul', input: [input, weight], output: [projected] },
      { name: `${name}_reshape`, op_type: 'Reshape', input: [projected, shape], output: [heads] },
      { ...m.mha, input: parts === 3 ? [heads] : [m.mha.input![0]!, heads] },
    ]);
  }
  const count = g.count;
  g.commit();
  return count;
}
