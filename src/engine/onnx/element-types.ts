/**
 * The element type (TensorProto.DataType) of every value in a graph, from the graph's inputs and
 * initializers and each operator's typing rule. ONNX's full shape inference is a C++ library; the
 * operators of Stable Diffusion graphs follow a handful of rules, and an operator not listed here
 * takes its first input's type, which is right for the elementwise and data-movement operators that
 * make up the rest.
 */
import { DataType, type AttributeProto, type GraphProto, type NodeProto } from './proto.ts';

const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** The types of `node`'s outputs, given a lookup of the types of values computed before it. */
export function outputTypes(node: NodeProto, typeOf: (value: string) => number | undefined): (number | undefined)[] {
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.op_type}` : node.op_type!;
  const outputs = node.output ?? [];
  const firstInput = (node.input ?? []).find((i) => i !== '');
  const same = firstInput !== undefined ? typeOf(firstInput) : undefined;
  const all = (t: number | undefined) => outputs.map(() => t);
  if (INT64_OUT.has(op)) return all(DataType.INT64);
  if (BOOL_OUT.has(op)) return all(DataType.BOOL);
  switch (op) {
    case 'Constant': {
      const a = node.attribute?.[0];
      if (a?.t) return [a.t.data_type];
      if (a?.name === 'value_float' || a?.name === 'value_floats') return [DataType.FLOAT];
      if (a?.name === 'value_int' || a?.name === 'value_ints') return [DataType.INT64];
      return [undefined];
    }
    case 'Cast':
      return all(attribute(node, 'to')?.i);
    case 'CastLike':
      return all(typeOf(node.input![1]!));
    case 'ConstantOfShape':
      return all(attribute(node, 'value')?.t?.data_type ?? DataType.FLOAT);
    case 'Where':
      return all(typeOf(node.input![1]!));
    case 'EyeLike':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
      return all(attribute(node, 'dtype')?.i ?? same);
    case 'RandomNormal':
    case 'RandomUniform':
      return all(attribute(node, 'dtype')?.i ?? DataType.FLOAT);
    case 'Dropout':
      return outputs.map((_, i) => (i === 0 ? same : DataType.BOOL));
    case 'TopK':
    case 'MaxPool':
      return outputs.map((_, i) => (i === 0 ? same : DataType.INT64));
    case 'LayerNormalization':
      // Mean and InvStdDev are kept in the stash type (float unless said otherwise).
      return outputs.map((_, i) => (i === 0 ? same : (attribute(node, 'stash_type')?.i ?? DataType.FLOAT)));
    default:
      return all(same);
  }
}

export function inferElementTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.value_info ?? []), ...(graph.output ?? [])]) {
    const t = v.type?.tensor_type?.elem_type;
    if (v.name && t) types.set(v.name, t);
  }
  for (const t of graph.initializer ?? []) if (t.name && t.data_type) types.set(t.name, t.data_type);
  for (const node of graph.node ?? []) {
    const out = outputTypes(node, (v) => types.get(v));
    (node.output ?? []).forEach((name, i) => {
      const t = out[i];
      if (name && t !== undefined && !types.has(name)) types.set(name, t);
    });
  }
  return types;
}
