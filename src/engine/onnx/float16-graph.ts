/**
 * Rewrites a float32 graph to compute in float16, the way PyTorch runs Stable Diffusion with
 * `torch_dtype=float16`: weights and activations in half precision, except
 *
 * - sinusoidal embeddings (the timestep's, and coordinate features): sin(999 · f) needs float32's
 *   mantissa, so Sin/Cos, what feeds them and what only they feed stay float32 up to the next
 *   MatMul/Gemm/Conv (diffusers computes its timestep embedding in float32 too);
 * - inputs ONNX types as float only (Resize's roi and scales);
 * - the graph's inputs and outputs, which stay float32 with Cast nodes inside the graph, so the engine
 *   feeds the model as before and the conversions run on the device instead of in JavaScript.
 *
 * Constants are converted (finite values clamped to ±65504, the largest half); where a constant feeds
 * both precisions, both are kept. Initializers whose data lies in an external file are not read
 * here: they come back in `pending` for the caller to convert while writing the weights.
 */
import { inferElementTypes } from './element-types.ts';
import { isExternal } from './external-data.ts';
import { pruneUnused } from './prune.ts';
import { DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from './proto.ts';
import { float32ToFloat16 } from '../runtime/fp16.ts';

/** Operators that carry the work: always float16, and where a float32 region ends. */
const WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'Einsum']);
const EMBEDDING_OPS = new Set(['Sin', 'Cos']);
/** Inputs ONNX allows as float32 only (and com.microsoft.GroupNorm's scale and bias, which its CUDA kernel reads as float). */
const FLOAT32_SLOTS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1], GroupNorm: [1, 2] };
/** Operators indifferent to their input's float type (they read its shape, or convert it anyway). */
const ANY_FLOAT_INPUT = new Set(['Shape', 'Size', 'Cast']);
const HALF_MAX = 65504;

type Precision = 16 | 32;

export interface Float16Graph {
  model: ModelProto;
  /** Float16 initializers still without data: each maps to the float32 original to convert into it. */
  pending: Map<TensorProto, TensorProto>;
  /** Nodes left computing in float32 (the embedding regions). */
  float32Nodes: number;
  /** Float32 initializers and constants converted. */
  constants: number;
}

export class Float16ConversionError extends Error {}

/** Float32 values to float16 bit patterns, finite values beyond the half range clamped to it. */
export function halveFloats(values: Float32Array): Uint16Array {
  const clamped = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    clamped[i] = v > HALF_MAX && v !== Infinity ? HALF_MAX : v < -HALF_MAX && v !== -Infinity ? -HALF_MAX : v;
  }
  return float32ToFloat16(clamped);
}

/** A float32 tensor's values, from raw_data (little-endian, possibly unaligned) or float_data. */
export function floatValues(t: TensorProto): Float32Array {
  if (t.raw_data) {
    // A copy when unaligned (a Buffer's slice() would be another view).
    const bytes = t.raw_data.byteOffset % 4 === 0 ? t.raw_data : new Uint8Array(t.raw_data);
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  return Float32Array.from(t.float_data ?? []);
}

/** The float16 twin of a float32 tensor (its data converted now when it is in the model). */
function halfTensor(t: TensorProto, name: string): TensorProto {
  const out: TensorProto = { name, dims: [...(t.dims ?? [])], data_type: DataType.FLOAT16 };
  if (!isExternal(t)) {
    const half = halveFloats(floatValues(t));
    out.raw_data = new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
  }
  return out;
}

/** The tensor a Constant node holds, with value_float(s) turned into a tensor. */
function constantTensor(node: NodeProto): TensorProto | undefined {
  const a = node.attribute?.[0];
  if (!a) return undefined;
  if (a.t) return a.t;
  if (a.name === 'value_float') return { dims: [], data_type: DataType.FLOAT, float_data: [a.f ?? 0] };
  if (a.name === 'value_floats') return { dims: [a.floats?.length ?? 0], data_type: DataType.FLOAT, float_data: [...(a.floats ?? [])] };
  return undefined;
}

function setAttribute(node: NodeProto, attribute: AttributeProto): NodeProto {
  return { ...node, attribute: [...(node.attribute ?? []).filter((a) => a.name !== attribute.name), attribute] };
}

/** Returns the rewritten model (the input is not modified), or undefined when it would not change. */
export function toFloat16Graph(model: ModelProto): Float16Graph | undefined {
  const graph = model.graph ?? {};
  const nodes = graph.node ?? [];
  if (nodes.some((n) => n.attribute?.some((a) => a.g || a.graphs?.length))) {
    throw new Float16ConversionError('graphs with subgraphs (If, Loop, Scan) are not converted');
  }
  const types = inferElementTypes(graph);
  const isFloat = (v: string) => v !== '' && types.get(v) === DataType.FLOAT;
  if (![...types.values()].includes(DataType.FLOAT)) return undefined;

  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const producer = new Map<string, NodeProto>();
  const slotOf = new Map<string, number>();
  for (const n of nodes) (n.output ?? []).forEach((o, i) => (producer.set(o, n), slotOf.set(o, i)));
  const constants = new Map<string, TensorProto>();
  for (const n of nodes) {
    const t = n.op_type === 'Constant' ? constantTensor(n) : undefined;
    if (t?.data_type === DataType.FLOAT) constants.set(n.output![0]!, t);
  }
  const isConstant = (v: string) => initializers.has(v) || constants.has(v);

  // 1. The float32 regions: Sin/Cos, what computes their arguments, then what only they (and constants) feed.
  const region = new Set<NodeProto>();
  const stays32 = (n: NodeProto | undefined): n is NodeProto => !!n && !WEIGHT_OPS.has(n.op_type!) && n.op_type !== 'Constant';
  const queue = nodes.filter((n) => EMBEDDING_OPS.has(n.op_type!));
  while (queue.length) {
    const n = queue.pop()!;
    if (region.has(n)) continue;
    region.add(n);
    for (const i of n.input ?? []) {
      const p = isFloat(i) ? producer.get(i) : undefined;
      if (stays32(p) && !region.has(p)) queue.push(p);
    }
  }
  for (const n of nodes) {
    if (region.has(n) || !stays32(n)) continue;
    const floats = (n.input ?? []).filter(isFloat);
    const fromRegion = floats.some((i) => region.has(producer.get(i)!));
    if (fromRegion && floats.every((i) => region.has(producer.get(i)!) || isConstant(i))) region.add(n);
  }

  // 2. Every float value's precision where it is made.
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name!).filter((n) => !initializers.has(n)));
  const graphOutputs = new Set((graph.output ?? []).map((v) => v.name!));
  const precisionOf = (n: NodeProto): Precision => (region.has(n) ? 32 : 16);
  const home = (v: string): Precision => {
    const p = producer.get(v);
    if (!p) return 32; // a graph input
    return p.op_type === 'LayerNormalization' && slotOf.get(v)! > 0 ? 32 : precisionOf(p);
  };
  /** A graph output made in float16 is renamed inside the graph; its float32 name is the Cast's output. */
  const homeName = (v: string) => (home(v) === 16 && graphOutputs.has(v) ? `${v}/fp16` : v);

  // 3. Rewrite in order, inserting a Cast where a value is wanted in the other precision.
  const out: NodeProto[] = [];
  const newInitializers: TensorProto[] = [];
  const pending = new Map<TensorProto, TensorProto>();
  const made = new Map<string, string>();
  let converted = 0;
  let casts = 0;
  let retyped = 0;
  const constantRef = (v: string, p: Precision): string => {
    if (p === 32) return v;
    const key = `${v}|16`;
    if (made.has(key)) return made.get(key)!;
    const name = `${v}/fp16`;
    const init = initializers.get(v);
    if (init) {
      const half = halfTensor(init, name);
      if (isExternal(init)) pending.set(half, init);
      newInitializers.push(half);
    } else {
      out.push({ input: [], output: [name], name: `${name}/Constant`, op_type: 'Constant', attribute: [{ name: 'value', type: 4, t: halfTensor(constants.get(v)!, '') }] });
    }
    converted++;
    made.set(key, name);
    return name;
  };
  const ref = (v: string, p: Precision): string => {
    if (!isFloat(v)) return v;
    if (isConstant(v)) return constantRef(v, p);
    if (home(v) === p) return homeName(v);
    const key = `${v}|${p}`;
    if (made.has(key)) return made.get(key)!;
    const name = p === 32 && graphOutputs.has(v) ? v : `${v}/fp${p}`;
    out.push({ input: [homeName(v)], output: [name], name: `${name}/Cast`, op_type: 'Cast', attribute: [{ name: 'to', type: 2, i: p === 16 ? DataType.FLOAT16 : DataType.FLOAT }] });
    made.set(key, name);
    casts++;
    return name;
  };

  for (const node of nodes) {
    if (node.op_type === 'Constant' && constants.has(node.output![0]!)) {
      out.push(node); // dropped at the end when only its float16 twin is used
      continue;
    }
    if (![...(node.input ?? []), ...(node.output ?? [])].some(isFloat)) {
      out.push(node);
      continue;
    }
    const p = precisionOf(node);
    let rewritten: NodeProto = {
      ...node,
      input: (node.input ?? []).map((v, slot) => {
        if (ANY_FLOAT_INPUT.has(node.op_type!) && !isConstant(v)) return isFloat(v) ? homeName(v) : v;
        return ref(v, p === 16 && !FLOAT32_SLOTS[node.op_type!]?.includes(slot) ? 16 : 32);
      }),
      output: (node.output ?? []).map((v) => (isFloat(v) ? homeName(v) : v)),
    };
    if (p === 16) {
      const typed = toHalfAttributes(rewritten);
      if (typed !== rewritten) retyped++;
      rewritten = typed;
    }
    out.push(rewritten);
  }
  for (const v of graphOutputs) if (isFloat(v) && !isConstant(v)) ref(v, 32);
  // A float16 model whose embeddings (and inputs, say) are float32 on purpose: nothing to convert.
  if (converted === 0 && casts === 0 && retyped === 0) return undefined;

  // 4. Drop what is no longer used (float32 constants with only float16 consumers).
  const { nodes: kept, used: needed } = pruneUnused(out, graphOutputs);
  const initializer = [...(graph.initializer ?? []), ...newInitializers].filter((t) => needed.has(t.name!));
  for (const t of pending.keys()) if (!needed.has(t.name!)) pending.delete(t);
  const keptInputs = (graph.input ?? []).filter((v) => graphInputs.has(v.name!) || needed.has(v.name!));
  const valueInfo = (graph.value_info ?? []).filter((v) => v.type?.tensor_type?.elem_type !== DataType.FLOAT);
  return {
    model: { ...model, graph: { ...graph, node: kept, initializer, input: keptInputs, value_info: valueInfo } },
    pending,
    float32Nodes: region.size,
    constants: converted,
  };
}

function attrInt(node: NodeProto, name: string): number | undefined {
  return node.attribute?.find((a) => a.name === name)?.i;
}

/** Attributes that name float32 as a type or hold a float32 tensor, in a node that now computes in float16. */
function toHalfAttributes(node: NodeProto): NodeProto {
  switch (node.op_type) {
    case 'Cast':
      return attrInt(node, 'to') === DataType.FLOAT ? setAttribute(node, { name: 'to', type: 2, i: DataType.FLOAT16 }) : node;
    case 'ConstantOfShape': {
      const value = node.attribute?.find((a) => a.name === 'value')?.t ?? { dims: [1], data_type: DataType.FLOAT, float_data: [0] };
      return value.data_type === DataType.FLOAT ? setAttribute(node, { name: 'value', type: 4, t: halfTensor(value, value.name ?? '') }) : node;
    }
    case 'EyeLike':
    case 'RandomNormal':
    case 'RandomUniform':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
      return attrInt(node, 'dtype') === DataType.FLOAT || (attrInt(node, 'dtype') === undefined && !node.op_type.endsWith('Like'))
        ? setAttribute(node, { name: 'dtype', type: 2, i: DataType.FLOAT16 })
        : node;
    default:
      return node;
  }
}
