/**
 * SkipLayerNormalization fusion (ONNX Runtime's FusionSkipLayerNormalization and
 * FusionBiasSkipLayerNormalization): the residual Add before a transformer block's LayerNorm, and
 * the bias Add of the projection that feeds it, become one com.microsoft.SkipLayerNormalization,
 * which also hands out the sum for the residual stream (its output 3). It has CPU and CUDA kernels.
 *
 *   x ──────────────────────┐
 *   h ─ MatMul ─ Add(bias) ─ Add ─ LayerNormalization(γ, β, ε) ─ y        (Add's sum: s)
 *     ⇒  y, s = SkipLayerNormalization(MatMul, x, γ, β, bias; ε)
 *
 * Only LayerNorms over the last axis, whose Add has no constant operand (a residual, not a
 * broadcast bias), are fused.
 */
import type { ModelProto, NodeProto } from '../onnx/proto.ts';
import { attr, floatAttr, FusionGraph, MS_DOMAIN } from './fuse-graph.ts';

export function fuseSkipLayerNorm(model: ModelProto): number {
  const g = new FusionGraph(model);
  for (const ln of g.nodes) {
    if (ln.op_type !== 'LayerNormalization' || (ln.domain && ln.domain !== 'ai.onnx')) continue;
    const axis = attr(ln, 'axis')?.i ?? -1;
    if (axis !== -1 || (ln.output ?? []).slice(1).some(Boolean)) continue;
    const [sumName, gamma, beta] = ln.input!;
    const gammaValues = g.values(gamma);
    if (!gammaValues || (beta && g.values(beta)?.length !== gammaValues.length)) continue;
    const add = g.made(sumName, 'Add');
    if (!add || add.input!.some((i) => g.constant(i))) continue;

    // The bias of the projection on one side, folded in when nothing else reads the biased value.
    let input = add.input![0]!;
    let skip = add.input![1]!;
    let bias: string | undefined;
    const removed: NodeProto[] = [add, ln];
    for (const side of [0, 1]) {
      const inner = g.made(add.input![side], 'Add');
      if (!inner || g.only(inner.output![0]!) !== add) continue;
      const b = inner.input!.findIndex((i) => g.values(i)?.length === gammaValues.length && g.constant(i)!.dims?.length === 1);
      if (b < 0 || g.constant(inner.input![1 - b])) continue;
      [input, skip, bias] = [inner.input![1 - b]!, add.input![1 - side]!, inner.input![b]!];
      removed.push(inner);
      break;
    }
    // The sum is an output of its own only when the residual stream reads it too.
    const sumRead = g.only(sumName!) !== ln;
    const inputs = [input, skip, gamma!, beta ?? '', bias ?? ''];
    while (inputs.at(-1) === '') inputs.pop();
    g.replace(removed, [
      {
        name: g.fresh(`SkipLayerNorm_${g.count}`),
        op_type: 'SkipLayerNormalization',
        domain: MS_DOMAIN,
        input: inputs,
        output: sumRead ? [ln.output![0]!, '', '', sumName!] : [ln.output![0]!],
        attribute: [floatAttr('epsilon', attr(ln, 'epsilon')?.f ?? 1e-5)],
      },
    ]);
  }
  const count = g.count;
  g.commit();
  return count;
}
