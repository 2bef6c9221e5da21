/**
 * A one-block UNet2DConditionModel stand-in: conv in → + time embedding → SiLU → cross-attention on
 * the text (queries from the pixels, keys and values from encoder_hidden_states) with a residual →
 * conv out. Symbolic batch/height/width, so any batch and any latent size run.
 *
 * Inputs: sample [b, 4|9, h, w], timestep (int64 [1] or float [batch]; either broadcasts over the
 * batch inside the graph), encoder_hidden_states [b, 77 × chunks, ctx], and optionally SDXL's text_embeds
 * [b, 32] + time_ids [b, 6] or LCM's timestep_cond [b, 32]. Output: out_sample [b, 4, h, w].
 *
 * A ControlNet-ready UNet also takes down_block_additional_residual_<i> and mid_block_additional_residual
 * [b, 32, h, w], added where diffusers adds them (the skip states, the mid block's output). With zero
 * residuals every value equals the plain UNet's (x + 0 = x), weights included: the weight streams are
 * named after the tensors, so both draw the same ones.
 */
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { Net } from './net.ts';
import { Prng } from './rng.ts';

export interface UnetSpec {
  inChannels: number;
  contextDim: number;
  timestep: { type: 'int64' | 'float32'; dims: readonly [1] | readonly ['batch'] };
  /** SDXL's added conditioning: pooled text embedding width and number of time ids (6). */
  sdxl?: { textEmbedsDim: number; timeIds: number };
  /** LCM's guidance embedding width (time_cond_proj_dim). */
  timeCondDim?: number;
  fp16: boolean;
  /** Name of the latent input: 'sample' (a broken model for negative tests renames it). */
  sampleName?: string;
  /** Down-block residual inputs (a ControlNet-ready UNet); absent: a plain UNet. */
  residuals?: number;
}

export const UNET_CHANNELS = 32;
const ATTN_DIM = 32;
const TIME_FREQS = 16; // sinusoidal embedding width 32

export function buildUnet(spec: UnetSpec, rng: Prng): ModelProto {
  const c = UNET_CHANNELS;
  const net = new Net('unet', rng, spec.fp16);
  const g = net.g;

  const sample = net.floatInput(spec.sampleName ?? 'sample', ['batch', spec.inChannels, 'height', 'width']);
  const timestep =
    spec.timestep.type === 'int64'
      ? g.cast(g.input('timestep', 'int64', spec.timestep.dims), 'float32')
      : net.floatInput('timestep', spec.timestep.dims);
  // A dynamic sequence axis, as optimum exports it: prompts longer than one 77-token chunk run.
  const context = net.floatInput('encoder_hidden_states', ['batch', 'sequence', spec.contextDim]);

  // Time embedding [n, c], n = 1 or batch.
  let temb = net.sinusoid(g.reshape(timestep, [-1]), TIME_FREQS);
  if (spec.timeCondDim) {
    const cond = net.floatInput('timestep_cond', ['batch', spec.timeCondDim]);
    temb = g.add(temb, g.matmul(cond, net.dense('time_embedding.cond_proj.weight', spec.timeCondDim, 2 * TIME_FREQS)));
  }
  temb = g.linear(temb, net.dense('time_embedding.linear_1.weight', 2 * TIME_FREQS, c), net.filled('time_embedding.linear_1.bias', [c], 0));
  temb = g.linear(g.silu(temb), net.dense('time_embedding.linear_2.weight', c, c), net.filled('time_embedding.linear_2.bias', [c], 0));
  if (spec.sdxl) {
    const { textEmbedsDim, timeIds } = spec.sdxl;
    const textEmbeds = net.floatInput('text_embeds', ['batch', textEmbedsDim]);
    const ids = net.floatInput('time_ids', ['batch', timeIds]);
    const idsEmb = g.reshape(net.sinusoid(ids, 8), [0, timeIds * 16]); // [b, 6 * 16]
    const addIn = g.concat([textEmbeds, idsEmb], 1);
    const inDim = textEmbedsDim + timeIds * 16;
    let add = g.linear(addIn, net.dense('add_embedding.linear_1.weight', inDim, c), net.filled('add_embedding.linear_1.bias', [c], 0));
    add = g.linear(g.silu(add), net.dense('add_embedding.linear_2.weight', c, c), net.filled('add_embedding.linear_2.bias', [c], 0));
    temb = g.add(temb, add);
  }

  let h = g.conv(sample, net.randn('conv_in.weight', [c, spec.inChannels, 3, 3], 1 / Math.sqrt(9 * spec.inChannels)), net.filled('conv_in.bias', [c], 0), {
    pads: [1, 1, 1, 1],
  });
  h = g.silu(g.add(h, g.reshape(temb, [-1, c, 1, 1])));
  for (let i = 0; i < (spec.residuals ?? 0); i++) h = g.add(h, net.floatInput(`down_block_additional_residual_${i}`, ['batch', c, 'height', 'width']));

  // Cross-attention over the text, on h viewed as [b, h*w, c].
  const shape = g.shape(h);
  const tokens = g.transpose(g.reshape(h, [0, c, -1]), [0, 2, 1]);
  const p = 'mid_block.attentions.0.transformer_blocks.0.attn2';
  const q = g.matmul(net.layerNorm('mid_block.norm2', tokens, c), net.dense(`${p}.to_q.weight`, c, ATTN_DIM, 2));
  const k = g.matmul(context, net.dense(`${p}.to_k.weight`, spec.contextDim, ATTN_DIM, 2));
  const v = g.matmul(context, net.dense(`${p}.to_v.weight`, spec.contextDim, ATTN_DIM));
  const attn = g.matmul(net.attention(q, k, v, ATTN_DIM), net.dense(`${p}.to_out.0.weight`, ATTN_DIM, c, 3));
  h = g.reshape(g.transpose(g.add(tokens, attn), [0, 2, 1]), shape);
  if (spec.residuals) h = g.add(h, net.floatInput('mid_block_additional_residual', ['batch', c, 'height', 'width']));

  const out = g.conv(h, net.randn('conv_out.weight', [4, c, 3, 3], 0.6 / Math.sqrt(9 * c)), net.filled('conv_out.bias', [4], 0), { pads: [1, 1, 1, 1] });
  net.floatOutput('out_sample', ['batch', 4, 'height', 'width'], out);
  return net.toModel('Darkroom test model: random weights, one-block conditional UNet. Not for use.');
}
