/**
 * Seamless tiling without a special export: every padded 2-D Conv of the UNet and the VAE decoder
 * gets wrap-around (circular) padding instead of zeros, so the image's right edge continues its left
 * edge and its bottom its top. ONNX's Pad only wraps from opset 19, so the padding is built from
 * Slice + Concat, which every opset we load has.
 *
 * The rewritten graph is written next to the original (`model.tiling.onnx`, derived-file.ts).
 */
import { makeAttribute, makeTensor } from '../onnx/builder.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { derivedModelFile } from './derived-file.ts';

const INT64_MAX = 2n ** 63n - 1n;

function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.ints?.map(Number);
}

function autoPad(node: NodeProto): string {
  const a = node.attribute?.find((x) => x.name === 'auto_pad');
  return a?.s ? new TextDecoder().decode(a.s) : 'NOTSET';
}

/** Returns a copy of `model` whose padded 2-D convolutions wrap around; `rewritten` counts them. */
export function withCircularPadding(model: ModelProto): { model: ModelProto; rewritten: number } {
  const graph = model.graph ?? {};
  const nodes: NodeProto[] = [];
  const constants = new Map<string, TensorProto>();
  const constant = (values: bigint[]): string => {
    const name = `darkroom_tiling/const_${values.join('_')}`;
    if (!constants.has(name)) constants.set(name, makeTensor(name, BigInt64Array.from(values), [values.length], 'int64'));
    return name;
  };
  let rewritten = 0;
  let counter = 0;

  /** x wrapped by `before` elements at the start and `after` at the end of `axis`. */
  const wrap = (x: string, axis: number, before: number, after: number): string => {
    if (before === 0 && after === 0) return x;
    const id = `darkroom_tiling/${counter++}`;
    const parts: string[] = [];
    if (before > 0) {
      nodes.push({ op_type: 'Slice', name: `${id}/head`, input: [x, constant([BigInt(-before)]), constant([INT64_MAX]), constant([BigInt(axis)])], output: [`${id}/head`] });
      parts.push(`${id}/head`);
    }
    parts.push(x);
    if (after > 0) {
      nodes.push({ op_type: 'Slice', name: `${id}/tail`, input: [x, constant([0n]), constant([BigInt(after)]), constant([BigInt(axis)])], output: [`${id}/tail`] });
      parts.push(`${id}/tail`);
    }
    nodes.push({ op_type: 'Concat', name: `${id}/concat`, input: parts, output: [`${id}/out`], attribute: [makeAttribute('axis', axis)] });
    return `${id}/out`;
  };

  for (const node of graph.node ?? []) {
    const pads = intsAttr(node, 'pads');
    const isConv = node.op_type === 'Conv' && (node.domain ?? '') === '';
    if (!isConv || !pads || pads.length !== 4 || pads.every((p) => p === 0) || autoPad(node) !== 'NOTSET') {
      nodes.push(node);
      continue;
    }
    // ONNX Conv pads are [top, left, bottom, right] for NCHW.
    const [top, left, bottom, right] = pads as [number, number, number, number];
    const wrapped = wrap(wrap(node.input![0]!, 3, left, right), 2, top, bottom);
    nodes.push({
      ...node,
      input: [wrapped, ...node.input!.slice(1)],
      attribute: node.attribute!.map((a) => (a.name === 'pads' ? makeAttribute('pads', [0, 0, 0, 0]) : a)),
    });
    rewritten++;
  }
  return {
    model: { ...model, graph: { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...constants.values()] } },
    rewritten,
  };
}

/** Path of the circular-padding twin of an ONNX file (`model.tiling.onnx`), written on first use. */
export async function tilingVariant(modelPath: string): Promise<string> {
  return (await derivedModelFile(modelPath, 'tiling', (m) => withCircularPadding(m).model)).path;
}
