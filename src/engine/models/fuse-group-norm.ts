/**
 * GroupNorm fusion (ONNX Runtime's FusionGroupNorm): nn.GroupNorm as torch.onnx exports it, with the
 * SiLU that follows it in every ResNet, becomes com.microsoft.GroupNorm, which ONNX Runtime
 * implements for CUDA only and in the channels-last layout only, so the fused node sits between two
 * Transposes, as ORT's own fusion puts it:
 *
 *   x ─ Reshape[0,G,-1] ─ InstanceNormalization(1, 0) ─ Reshape(Shape(x)) ─ Mul(γ[C,1,1]) ─ Add(β[C,1,1]) [─ SiLU] ─ y
 *     ⇒  y = Transpose[0,3,1,2](GroupNorm(Transpose[0,2,3,1](x), γ[C], β[C]; groups G, ε, activation))
 *
 * γ and β become float32 whatever the graph's precision (the CUDA kernel reads them as float only;
 * float16-graph.ts keeps them so). Where the block's output goes straight back to channels-last (a
 * Transformer2D with linear projections), that Transpose pair cancels.
 */
import type { ModelProto, NodeProto } from '../onnx/proto.ts';
import { attr, floatAttr, FusionGraph, intAttr, MS_DOMAIN } from './fuse-graph.ts';

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

function isPerm(n: NodeProto | undefined, perm: number[]): boolean {
  return n?.op_type === 'Transpose' && (attr(n, 'perm')?.ints ?? []).join() === perm.join();
}

export function fuseGroupNorm(model: ModelProto): number {
  const g = new FusionGraph(model);
  for (const add of g.nodes) {
    if (add.op_type !== 'Add' || (add.domain && add.domain !== 'ai.onnx')) continue;
    const m = add.input!.findIndex((i) => g.made(i, 'Mul'));
    if (m < 0) continue;
    const mul = g.made(add.input![m], 'Mul')!;
    const beta = g.values(add.input![1 - m]);
    const r = mul.input!.findIndex((i) => g.made(i, 'Reshape'));
    if (r < 0 || g.only(mul.output![0]!) !== add) continue;
    const back = g.made(mul.input![r], 'Reshape')!;
    const gamma = g.values(mul.input![1 - r]);
    const channels = gamma?.length;
    const gammaDims = g.constant(mul.input![1 - r])?.dims ?? [];
    const betaDims = g.constant(add.input![1 - m])?.dims ?? [];
    if (!channels || beta?.length !== channels || gammaDims.join() !== `${channels},1,1` || betaDims.join() !== `${channels},1,1`) continue;
    const inorm = g.made(back.input![0], 'InstanceNormalization');
    if (!inorm || g.only(back.output![0]!) !== mul || g.only(inorm.output![0]!) !== back) continue;
    const grouped = g.made(inorm.input![0], 'Reshape');
    if (!grouped || g.only(grouped.output![0]!) !== inorm) continue;
    const root = grouped.input![0]!;
    const shape = g.made(back.input![1], 'Shape');
    if (shape?.input![0] !== root || (shape.attribute ?? []).length) continue;
    const to = g.values(grouped.input![1]);
    const groups = to?.length === 3 && to[0] === 0 && to[2] === -1 ? to[1]! : 0;
    const ones = g.values(inorm.input![1]);
    const zeros = g.values(inorm.input![2]);
    // 32 groups only, as ORT's FusionGroupNorm: SD's count, and the only one some CUDA kernel versions take.
    if (groups !== 32 || channels % groups || ones?.length !== groups || zeros?.length !== groups) continue;
    if (ones.some((v) => v !== 1) || zeros.some((v) => v !== 0)) continue;

    // SiLU after it: Mul(y, Sigmoid(y)), nothing else reading y.
    const readers = g.consumers.get(add.output![0]!) ?? [];
    const sigmoid = readers.find((n) => n.op_type === 'Sigmoid');
    const swish = readers.find((n) => n.op_type === 'Mul' && sigmoid && n.input!.includes(sigmoid.output![0]!) && n.input!.includes(add.output![0]!));
    const activated = !!(sigmoid && swish) && readers.length === 2 && g.only(sigmoid!.output![0]!) === swish;
    const removed = [grouped, inorm, back, mul, add, ...(activated ? [sigmoid!, swish!] : [])];
    const out = activated ? swish!.output![0]! : add.output![0]!;

    const name = g.fresh(`GroupNorm_${g.count}`);
    const nhwcIn = g.fresh(`${name}_nhwc_in`);
    const nhwcOut = g.fresh(`${name}_nhwc_out`);
    const added: NodeProto[] = [
      { name: g.fresh(`${name}_to_nhwc`), op_type: 'Transpose', input: [root], output: [nhwcIn], attribute: [{ name: 'perm', type: 7, ints: TO_NHWC }] },
      {
        name,
        op_type: 'GroupNorm',
        domain: MS_DOMAIN,
        input: [nhwcIn, g.floatInitializer(`${name}_gamma`, gamma!), g.floatInitializer(`${name}_beta`, beta!)],
        output: [nhwcOut],
        attribute: [floatAttr('epsilon', attr(inorm, 'epsilon')?.f ?? 1e-5), intAttr('groups', groups), intAttr('activation', activated ? 1 : 0), intAttr('channels_last', 1)],
      },
      { name: g.fresh(`${name}_to_nchw`), op_type: 'Transpose', input: [nhwcOut], output: [out], attribute: [{ name: 'perm', type: 7, ints: TO_NCHW }] },
    ];
    // A reader that turns the output back to channels-last reads the fused node's output as it is.
    for (const reader of g.consumers.get(out) ?? []) {
      if (!isPerm(reader, TO_NHWC)) continue;
      reader.op_type = 'Identity';
      reader.input = [nhwcOut];
      reader.attribute = [];
    }
    g.replace(removed, added);
  }
  const count = g.count;
  g.commit();
  return count;
}
