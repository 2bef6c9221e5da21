/**
 * Attention fusion: rewrites the unfused multi-head attention pattern of a Stable Diffusion graph
 * (what torch.onnx exports, and what tools/bench builds) into ONNX Runtime's contrib operator
 * com.microsoft.MultiHeadAttention, whose CUDA kernels are flash / memory-efficient attention (no
 * [batch, heads, n, n] score tensor in memory) and which also has a CPU kernel, so the rewrite is
 * checked on CPU. ONNX Runtime's session-time optimiser does not make this fusion for these graphs.
 *
 *   q ─ Reshape[0,0,h,d] ─ Transpose[0,2,1,3] ─┐
 *   k ─ Reshape[0,0,h,d] ─ Transpose[0,2,3,1] ─ MatMul ─ Mul(scale) ─ Softmax ─┐
 *   v ─ Reshape[0,0,h,d] ─ Transpose[0,2,1,3] ────────────────────────────── MatMul ─ Transpose[0,2,1,3] ─ Reshape[0,0,h*d] ─ out
 *     ⇒  out = MultiHeadAttention(q, k, v; num_heads = h, scale)
 *
 * The head shapes may be constants ([0, 0, h, d], as tools/bench builds them) or computed from the
 * input's shape (Concat of Shape/Gather values and a constant h, as torch.onnx exports diffusers'
 * and Darkroom's demo model's attention); only h needs to be a constant. Nodes that only fed the
 * removed ones (shape arithmetic) are dropped.
 *
 * Masked attention (CLIP's causal mask: an Add before the Softmax) is left alone: the text encoder
 * runs once per image.
 */
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { pruneUnused } from '../onnx/prune.ts';
import { fromHalfBits } from '../runtime/fp16.ts';

const MS_DOMAIN = 'com.microsoft';

function attr(node: NodeProto, name: string) {
  return node.attribute?.find((a) => a.name === name);
}

function perm(node: NodeProto | undefined): string {
  return node?.op_type === 'Transpose' ? (attr(node, 'perm')?.ints ?? []).join(',') : '';
}

function numbers(t: TensorProto | undefined): number[] | undefined {
  if (!t) return undefined;
  if (t.data_type === DataType.INT64) {
    if (t.raw_data) {
      const v = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
      return Array.from({ length: t.raw_data.byteLength / 8 }, (_, i) => Number(v.getBigInt64(i * 8, true)));
    }
    return t.int64_data?.map(Number);
  }
  if (t.data_type === DataType.FLOAT) {
    if (t.raw_data) {
      const v = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
      return Array.from({ length: t.raw_data.byteLength / 4 }, (_, i) => v.getFloat32(i * 4, true));
    }
    return t.float_data;
  }
  if (t.data_type === DataType.FLOAT16 && t.raw_data) {
    const v = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
    return Array.from({ length: t.raw_data.byteLength / 2 }, (_, i) => fromHalfBits(v.getUint16(i * 2, true)));
  }
  return t.int32_data;
}

export interface FuseResult {
  /** Attention blocks replaced by MultiHeadAttention. */
  attention: number;
  nodesBefore: number;
  nodesAfter: number;
}

/** Rewrites `model` in place; returns what it did. */
export function fuseAttention(model: ModelProto): FuseResult {
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const nodesBefore = nodes.length;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  for (const n of nodes) {
    const value = n.op_type === 'Constant' ? attr(n, 'value')?.t : undefined;
    if (value && n.output?.[0]) inits.set(n.output[0], value);
  }
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name!));
  const only = (value: string): NodeProto | undefined => {
    const c = consumers.get(value);
    return c?.length === 1 && !graphOutputs.has(value) ? c[0] : undefined;
  };
  /** A constant's values, looking through Unsqueeze (torch wraps scalars in one before a Concat). */
  const constant = (name: string): number[] | undefined => {
    const u = producer.get(name);
    return numbers(inits.get(u?.op_type === 'Unsqueeze' ? u.input![0]! : name));
  };
  /** The target shape of a Reshape, entry by entry (undefined: computed at run time); undefined if unknown. */
  const reshapeTo = (reshape: NodeProto): (number | undefined)[] | undefined => {
    const fixed = numbers(inits.get(reshape.input![1]!));
    if (fixed) return fixed;
    const concat = producer.get(reshape.input![1]!);
    if (concat?.op_type !== 'Concat') return undefined;
    return concat.input!.map((i) => {
      const v = constant(i);
      return v?.length === 1 ? v[0] : undefined;
    });
  };
  /** x ─ Reshape[b,n,h,d] ─ Transpose[wanted] with a constant h: returns x, h, d (if constant) and the two nodes. */
  const heads = (transpose: NodeProto | undefined, wanted: string) => {
    if (!transpose || perm(transpose) !== wanted) return undefined;
    const reshape = producer.get(transpose.input![0]!);
    if (reshape?.op_type !== 'Reshape' || only(reshape.output![0]!) !== transpose) return undefined;
    const shape = reshapeTo(reshape);
    if (!shape || shape.length !== 4 || !(shape[2]! > 0) || (shape[3] !== undefined && !(shape[3] > 0))) return undefined;
    if (shape[0] !== undefined && shape[0] !== 0) return undefined; // a fixed batch is not "keep the input's"
    return { x: reshape.input![0]!, h: shape[2]!, d: shape[3], nodes: [reshape, transpose] };
  };
  const same = (a: number | undefined, b: number | undefined) => a === undefined || b === undefined || a === b;

  const remove = new Set<NodeProto>();
  const add = new Map<NodeProto, NodeProto>(); // inserted in place of the removed Softmax
  let count = 0;
  for (const softmax of nodes) {
    if (softmax.op_type !== 'Softmax' || remove.has(softmax)) continue;
    const axis = attr(softmax, 'axis')?.i;
    if (axis !== undefined && axis !== -1 && axis !== 3) continue;
    const mul = producer.get(softmax.input![0]!);
    if (mul?.op_type !== 'Mul' || only(mul.output![0]!) !== softmax) continue;
    const [scoresName, scaleName] = producer.has(mul.input![0]!) ? [mul.input![0]!, mul.input![1]!] : [mul.input![1]!, mul.input![0]!];
    const scale = numbers(inits.get(scaleName));
    if (!scale || scale.length !== 1) continue;
    const qk = producer.get(scoresName);
    if (qk?.op_type !== 'MatMul' || only(qk.output![0]!) !== mul) continue;
    const q = heads(producer.get(qk.input![0]!), '0,2,1,3');
    const k = heads(producer.get(qk.input![1]!), '0,2,3,1');
    const av = only(softmax.output![0]!);
    if (!q || !k || av?.op_type !== 'MatMul' || av.input![0] !== softmax.output![0]) continue;
    const v = heads(producer.get(av.input![1]!), '0,2,1,3');
    const back = only(av.output![0]!);
    if (!v || perm(back) !== '0,2,1,3') continue;
    const merge = only(back!.output![0]!);
    const mergeShape = merge?.op_type === 'Reshape' ? reshapeTo(merge) : undefined;
    if (!mergeShape || mergeShape.length !== 3 || (mergeShape[2] !== undefined && q.d !== undefined && mergeShape[2] !== q.h * q.d)) continue;
    if (k.h !== q.h || v.h !== q.h || !same(k.d, q.d) || !same(v.d, q.d)) continue;
    if (only(q.nodes[1]!.output![0]!) !== qk || only(k.nodes[1]!.output![0]!) !== qk || only(v.nodes[1]!.output![0]!) !== av) continue;

    for (const n of [...q.nodes, ...k.nodes, ...v.nodes, qk, mul, softmax, av, back!, merge!]) remove.add(n);
    add.set(softmax, {
      input: [q.x, k.x, v.x],
      output: [merge!.output![0]!],
      name: `MultiHeadAttention_${count}`,
      op_type: 'MultiHeadAttention',
      domain: MS_DOMAIN,
      attribute: [
        { name: 'num_heads', type: 2, i: q.h },
        { name: 'scale', type: 1, f: scale[0]! },
      ],
    });
    count++;
  }
  if (count === 0) return { attention: 0, nodesBefore, nodesAfter: nodesBefore };

  // The MultiHeadAttention node takes the place of the removed MatMul that produced its output's
  // last input, so it comes after q, k and v in the (topological) node order.
  let out: NodeProto[] = [];
  const pending = new Map<string, NodeProto>([...add.values()].map((n) => [n.output![0]!, n]));
  for (const n of nodes) {
    if (!remove.has(n)) out.push(n);
    else if (n.op_type === 'Reshape' && pending.has(n.output![0]!)) out.push(pending.get(n.output![0]!)!);
  }
  // Drop what only fed the removed nodes (the shape arithmetic of computed reshapes).
  const pruned = pruneUnused(out, (graph.output ?? []).map((o) => o.name!));
  graph.node = out = pruned.nodes;
  graph.initializer = (graph.initializer ?? []).filter((t) => pruned.used.has(t.name!));
  if (!(model.opset_import ?? []).some((o) => o.domain === MS_DOMAIN)) model.opset_import = [...(model.opset_import ?? []), { domain: MS_DOMAIN, version: 1 }];
  return { attention: count, nodesBefore, nodesAfter: out.length };
}
