/**
 * BiasAdd fusion (ONNX Runtime's FusionBiasAdd): the bias of a transformer block's last projection
 * and the residual Add after it become com.microsoft.BiasAdd, which ONNX Runtime implements for CUDA
 * only, and for 320, 640 or 1280 channels only (SD's widths; others fail at run time, so they are
 * not fused):
 *
 *   h ─ MatMul ─ Add(bias) ─ Add ─ y          (the residual s from a SkipLayerNormalization's sum)
 *                           s ─┘
 *     ⇒  y = BiasAdd(MatMul, bias, s)
 *
 * As in ORT, the residual must come from a SkipLayerNormalization (so run after that fusion): that
 * is what says it has the projection's shape, which the kernel requires of it.
 */
import type { ModelProto } from '../onnx/proto.ts';
import { FusionGraph, MS_DOMAIN } from './fuse-graph.ts';

const CUDA_CHANNELS = new Set([320, 640, 1280]);

export function fuseBiasAdd(model: ModelProto): number {
  const g = new FusionGraph(model);
  for (const outer of g.nodes) {
    if (outer.op_type !== 'Add' || (outer.domain && outer.domain !== 'ai.onnx')) continue;
    for (const side of [0, 1]) {
      const inner = g.made(outer.input![side], 'Add');
      const skip = outer.input![1 - side]!;
      const norm = g.producer.get(skip);
      if (!inner || g.only(inner.output![0]!) !== outer || norm?.op_type !== 'SkipLayerNormalization' || norm.output![3] !== skip) continue;
      const b = inner.input!.findIndex((i) => CUDA_CHANNELS.has(g.values(i)?.length ?? 0) && g.constant(i)!.dims?.length === 1);
      if (b < 0 || !g.made(inner.input![1 - b], 'MatMul')) continue;
      g.replace([inner, outer], [
        { name: g.fresh(`BiasAdd_${g.count}`), op_type: 'BiasAdd', domain: MS_DOMAIN, input: [inner.input![1 - b]!, inner.input![b]!, skip], output: [outer.output![0]!] },
      ]);
      break;
    }
  }
  const count = g.count;
  g.commit();
  return count;
}
