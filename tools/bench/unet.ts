/**
 * diffusers' UNet2DConditionModel as an ONNX graph: conv_in → time embedding MLP (+ SDXL's
 * text/time add_embedding) → down blocks (ResNets, Transformer2DModels with self- and
 * cross-attention and a GEGLU feed-forward, stride-2 downsamplers) → mid block → up blocks (skip
 * concatenation, nearest ×2 upsampling + conv) → GroupNorm → SiLU → conv_out. Parameter names are
 * diffusers' state-dict names.
 *
 * I/O as optimum exports it: sample [batch, 4, height, width], timestep float32 [batch],
 * encoder_hidden_states [batch, 77, context]; SDXL adds text_embeds [batch, 1280] and
 * time_ids [batch, 6]. Output out_sample [batch, 4, height, width].
 */
import type { UnetConfig } from './configs.ts';
import type { BenchNet } from './net.ts';

const RESNET_EPS = 1e-5;
const TRANSFORMER_NORM_EPS = 1e-6;
/** Residual branches end with a smaller gain so the residual stream grows slowly (fp16-safe). */
const RESIDUAL_GAIN = 0.5;

export const TEXT_TOKENS = 77;

interface Ctx {
  net: BenchNet;
  cfg: UnetConfig;
  /** SiLU(time embedding) [n, temb], shared by every ResNet's time_emb_proj. */
  tembAct: string;
  tembDim: number;
  context: string;
}

function resnet(c: Ctx, x: string, name: string, cin: number, cout: number): string {
  const { net } = c;
  const g = net.g;
  let h = net.silu(net.groupNorm(x, `${name}.norm1`, cin, c.cfg.normGroups, RESNET_EPS));
  h = net.conv(h, `${name}.conv1`, cin, cout, 3);
  const t = net.linear(c.tembAct, `${name}.time_emb_proj`, c.tembDim, cout);
  h = g.add(h, g.unsqueeze(t, [2, 3]));
  h = net.silu(net.groupNorm(h, `${name}.norm2`, cout, c.cfg.normGroups, RESNET_EPS));
  h = net.conv(h, `${name}.conv2`, cout, cout, 3, { gain: RESIDUAL_GAIN });
  const skip = cin === cout ? x : net.conv(x, `${name}.conv_shortcut`, cin, cout, 1);
  return g.add(skip, h);
}

function attentionLayer(c: Ctx, x: string, kv: string, name: string, dim: number, kvDim: number, heads: number): string {
  const { net } = c;
  const q = net.linear(x, `${name}.to_q`, dim, dim, { bias: false });
  const k = net.linear(kv, `${name}.to_k`, kvDim, dim, { bias: false });
  const v = net.linear(kv, `${name}.to_v`, kvDim, dim, { bias: false });
  const o = net.attention(q, k, v, heads, dim / heads);
  return net.linear(o, `${name}.to_out.0`, dim, dim, { gain: RESIDUAL_GAIN });
}

function transformerBlock(c: Ctx, x: string, name: string, dim: number, heads: number): string {
  const { net } = c;
  const g = net.g;
  let n = net.layerNorm(x, `${name}.norm1`, dim);
  x = g.add(x, attentionLayer(c, n, n, `${name}.attn1`, dim, dim, heads));
  n = net.layerNorm(x, `${name}.norm2`, dim);
  x = g.add(x, attentionLayer(c, n, c.context, `${name}.attn2`, dim, c.cfg.contextDim, heads));
  n = net.layerNorm(x, `${name}.norm3`, dim);
  // GEGLU: proj → (hidden, gate) halves → hidden * gelu(gate) → Linear.
  const proj = net.linear(n, `${name}.ff.net.0.proj`, dim, 8 * dim);
  const [hidden, gate] = g.node('Split', [proj, g.constant([4 * dim, 4 * dim], [2], 'int64', 'split')], 2, { axis: -1 });
  const ff = net.linear(g.mul(hidden!, net.gelu(gate!)), `${name}.ff.net.2`, 4 * dim, dim, { gain: RESIDUAL_GAIN });
  return g.add(x, ff);
}

/** Transformer2DModel: GroupNorm → proj_in → transformer blocks over [b, h*w, c] → proj_out → + input. */
function transformer2d(c: Ctx, x: string, name: string, dim: number, heads: number, depth: number): string {
  const { net, cfg } = c;
  const g = net.g;
  let h = net.groupNorm(x, `${name}.norm`, dim, cfg.normGroups, TRANSFORMER_NORM_EPS);
  if (!cfg.linearProjection) h = net.conv(h, `${name}.proj_in`, dim, dim, 1);
  const nhwc = g.transpose(h, [0, 2, 3, 1]);
  const nhwcShape = g.shape(nhwc);
  let tokens = g.reshape(nhwc, [0, -1, dim]);
  if (cfg.linearProjection) tokens = net.linear(tokens, `${name}.proj_in`, dim, dim);
  for (let d = 0; d < depth; d++) tokens = transformerBlock(c, tokens, `${name}.transformer_blocks.${d}`, dim, heads);
  if (cfg.linearProjection) tokens = net.linear(tokens, `${name}.proj_out`, dim, dim, { gain: RESIDUAL_GAIN });
  h = g.transpose(g.reshape(tokens, nhwcShape), [0, 3, 1, 2]);
  if (!cfg.linearProjection) h = net.conv(h, `${name}.proj_out`, dim, dim, 1, { gain: RESIDUAL_GAIN });
  return g.add(h, x);
}

function upsample(c: Ctx, x: string, name: string, channels: number): string {
  const g = c.net.g;
  const scales = g.constant([1, 1, 2, 2], [4], 'float32', 'scales');
  // torch's F.interpolate(nearest): asymmetric coordinates, floor.
  const up = g.op('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  return c.net.conv(up, `${name}.conv`, channels, channels, 3);
}

export function buildUnet(net: BenchNet, cfg: UnetConfig): void {
  const g = net.g;
  const c0 = cfg.blockChannels[0]!;
  const tembDim = 4 * c0;
  const sample = net.floatInput('sample', ['batch', cfg.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', 'float32', ['batch']);
  const context = net.floatInput('encoder_hidden_states', ['batch', TEXT_TOKENS, cfg.contextDim]);

  // Time embedding: sinusoid (float32) → Linear → SiLU → Linear.
  let temb = net.toFloat(net.timestepEmbedding(timestep, c0));
  temb = net.linear(temb, 'time_embedding.linear_1', c0, tembDim);
  temb = net.linear(net.silu(temb), 'time_embedding.linear_2', tembDim, tembDim);
  if (cfg.addition) {
    const { textEmbedsDim, timeIds, timeEmbedDim } = cfg.addition;
    const textEmbeds = net.floatInput('text_embeds', ['batch', textEmbedsDim]);
    const ids = net.floatInput('time_ids', ['batch', timeIds]);
    const idsEmb = net.timestepEmbedding(g.reshape(g.cast(ids, 'float32'), [-1]), timeEmbedDim); // [b*6, D]
    const addIn = g.concat([textEmbeds, net.toFloat(g.reshape(idsEmb, [-1, timeIds * timeEmbedDim]))], 1);
    let add = net.linear(addIn, 'add_embedding.linear_1', textEmbedsDim + timeIds * timeEmbedDim, tembDim);
    add = net.linear(net.silu(add), 'add_embedding.linear_2', tembDim, tembDim);
    temb = g.add(temb, add);
  }
  const c: Ctx = { net, cfg, tembAct: net.silu(temb), tembDim, context };

  let h = net.conv(sample, 'conv_in', cfg.inChannels, c0, 3);
  const skips: { value: string; channels: number }[] = [{ value: h, channels: c0 }];
  const blocks = cfg.blockChannels.length;
  let prev = c0;
  for (let b = 0; b < blocks; b++) {
    const out = cfg.blockChannels[b]!;
    const depth = cfg.transformerDepth[b]!;
    for (let l = 0; l < cfg.layersPerBlock; l++) {
      h = resnet(c, h, `down_blocks.${b}.resnets.${l}`, l === 0 ? prev : out, out);
      if (depth > 0) h = transformer2d(c, h, `down_blocks.${b}.attentions.${l}`, out, cfg.heads[b]!, depth);
      skips.push({ value: h, channels: out });
    }
    if (b < blocks - 1) {
      h = net.conv(h, `down_blocks.${b}.downsamplers.0.conv`, out, out, 3, { stride: 2 });
      skips.push({ value: h, channels: out });
    }
    prev = out;
  }

  h = resnet(c, h, 'mid_block.resnets.0', prev, prev);
  h = transformer2d(c, h, 'mid_block.attentions.0', prev, cfg.heads[blocks - 1]!, cfg.midTransformerDepth);
  h = resnet(c, h, 'mid_block.resnets.1', prev, prev);

  for (let b = 0; b < blocks; b++) {
    const out = cfg.blockChannels[blocks - 1 - b]!;
    const depth = cfg.transformerDepth[blocks - 1 - b]!;
    const heads = cfg.heads[blocks - 1 - b]!;
    for (let l = 0; l <= cfg.layersPerBlock; l++) {
      const skip = skips.pop()!;
      h = resnet(c, g.concat([h, skip.value], 1), `up_blocks.${b}.resnets.${l}`, prev + skip.channels, out);
      if (depth > 0) h = transformer2d(c, h, `up_blocks.${b}.attentions.${l}`, out, heads, depth);
      prev = out;
    }
    if (b < blocks - 1) h = upsample(c, h, `up_blocks.${b}.upsamplers.0`, out);
  }

  h = net.silu(net.groupNorm(h, 'conv_norm_out', c0, cfg.normGroups, RESNET_EPS));
  h = net.conv(h, 'conv_out', c0, cfg.outChannels, 3);
  net.floatOutput('out_sample', ['batch', cfg.outChannels, 'height', 'width'], h);
}
