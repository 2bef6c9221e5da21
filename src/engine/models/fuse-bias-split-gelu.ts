/**
 * BiasSplitGelu fusion (ONNX Runtime's FusionBiasSplitGelu): the first half of GEGLU, the feed-forward
 * of every transformer block in an SD UNet, becomes com.microsoft.BiasSplitGelu, which ONNX Runtime
 * implements for CUDA only, and for a projection width of 2560, 5120 or 10240 only (SD's
 * 8 × 320/640/1280; other widths fail at run time, so they are not fused):
 *
 *   h ─ Add(bias) ─ Split in halves on the last axis (Split, or two Slices) ─ a, b ─ a · gelu(b) ─ y
 *     ⇒  y = BiasSplitGelu(h, bias)
 *
 * gelu is the exact one: a Gelu node, or x · (erf(x / √2) + 1) · 0.5 as torch.onnx writes it.
 */
import type { ModelProto, NodeProto } from '../onnx/proto.ts';
import { attr, FusionGraph, MS_DOMAIN } from './fuse-graph.ts';

const CUDA_WIDTHS = new Set([2560, 5120, 10240]);

const near = (v: number[] | undefined, x: number) => v?.length === 1 && Math.abs(v[0]! - x) < 1e-3 * Math.abs(x);

/** The value `y = gelu(x)` is computed from, and the nodes computing it; undefined when it is not exact GELU. */
function geluOf(g: FusionGraph, y: string): { x: string; nodes: NodeProto[] } | undefined {
  const gelu = g.producer.get(y);
  if (gelu?.op_type === 'Gelu' && (attr(gelu, 'approximate')?.s?.length ?? 0) === 0) return { x: gelu.input![0]!, nodes: [gelu] };
  const half = g.made(y, 'Mul');
  const h = half?.input!.findIndex((i) => near(g.values(i), 0.5)) ?? -1;
  if (h < 0) return undefined;
  const times = g.made(half!.input![1 - h], 'Mul');
  if (!times || g.only(times.output![0]!) !== half) return undefined;
  for (const side of [0, 1]) {
    const x = times.input![side]!;
    const plus = g.made(times.input![1 - side], 'Add');
    const one = plus?.input!.findIndex((i) => near(g.values(i), 1)) ?? -1;
    if (one < 0 || g.only(plus!.output![0]!) !== times) continue;
    const erf = g.made(plus!.input![1 - one], 'Erf');
    if (!erf || g.only(erf.output![0]!) !== plus) continue;
    const scaled = g.made(erf.input![0], 'Div') ?? g.made(erf.input![0], 'Mul');
    const by = scaled?.op_type === 'Div' ? Math.SQRT2 : Math.SQRT1_2;
    if (!scaled || scaled.input![0] !== x || !near(g.values(scaled.input![1]), by) || g.only(scaled.output![0]!) !== erf) continue;
    return { x, nodes: [scaled, erf, plus!, times, half!] };
  }
  return undefined;
}

/** The two halves of `value` along its last axis, when `value` is split into exactly them. */
function halvesOf(g: FusionGraph, first: string, second: string, width: number): { data: string; nodes: NodeProto[] } | undefined {
  const split = g.made(first, 'Split');
  if (split && g.producer.get(second) === split && split.output!.length === 2 && split.output![0] === first && split.output![1] === second) {
    const axis = attr(split, 'axis')?.i ?? 0;
    const sizes = g.values(split.input![1]) ?? attr(split, 'split')?.ints;
    const even = sizes ? sizes.length === 2 && sizes[0] === width / 2 && sizes[1] === width / 2 : true;
    return (axis === -1 || axis === 2) && even ? { data: split.input![0]!, nodes: [split] } : undefined;
  }
  const a = g.made(first, 'Slice');
  const b = g.made(second, 'Slice');
  if (!a || !b || a.input![0] !== b.input![0]) return undefined;
  const lastAxis = (s: NodeProto) => [[-1], [2]].some((x) => g.values(s.input![3])?.join() === x.join()) && (!s.input![4] || g.values(s.input![4])?.join() === '1');
  if (!lastAxis(a) || !lastAxis(b) || g.values(a.input![1])?.join() !== '0') return undefined;
  // The boundary: the same value ends the first half and starts the second (computed or constant).
  if (a.input![2] !== b.input![1] && !(g.values(a.input![2])?.join() === `${width / 2}` && g.values(b.input![1])?.join() === `${width / 2}`)) return undefined;
  const end = g.values(b.input![2]);
  if (end && !(end.length === 1 && end[0]! >= width)) return undefined;
  return { data: a.input![0]!, nodes: [a, b] };
}

export function fuseBiasSplitGelu(model: ModelProto): number {
  const g = new FusionGraph(model);
  for (const mul of g.nodes) {
    if (mul.op_type !== 'Mul' || (mul.domain && mul.domain !== 'ai.onnx')) continue;
    for (const side of [0, 1]) {
      const gelu = geluOf(g, mul.input![side]!);
      if (!gelu) continue;
      const hidden = mul.input![1 - side]!;
      if (g.only(hidden) !== mul) continue;
      const biasAdd = g.producer.get(hidden)?.input?.[0] ? g.made(g.producer.get(hidden)!.input![0], 'Add') : undefined;
      const b = biasAdd?.input!.findIndex((i) => CUDA_WIDTHS.has(g.values(i)?.length ?? 0) && g.constant(i)!.dims?.length === 1) ?? -1;
      if (b < 0) continue;
      const bias = biasAdd!.input![b]!;
      const width = g.values(bias)!.length;
      const halves = halvesOf(g, hidden, gelu.x, width);
      if (!halves || halves.data !== biasAdd!.output![0]) continue;
      // Nothing but the halves (and the shape arithmetic of computed slice bounds) reads the biased value.
      if ((g.consumers.get(halves.data) ?? []).some((n) => !halves.nodes.includes(n) && n.op_type !== 'Shape')) continue;
      if ((g.consumers.get(gelu.x) ?? []).some((n) => !gelu.nodes.includes(n))) continue;
      g.replace([biasAdd!, ...halves.nodes, ...gelu.nodes, mul], [
        { name: g.fresh(`BiasSplitGelu_${g.count}`), op_type: 'BiasSplitGelu', domain: MS_DOMAIN, input: [biasAdd!.input![1 - b]!, bias], output: [mul.output![0]!] },
      ]);
      break;
    }
  }
  const count = g.count;
  g.commit();
  return count;
}
