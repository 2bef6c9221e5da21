/**
 * A ControlNetModel stand-in for the test UNet (unet.ts): the control image enters through a
 * stride-8 convolution (diffusers' ControlNetConditioningEmbedding brings pixels to latent size), is
 * added to conv_in(sample) + time embedding + pooled text, and one 1×1 "zero convolution" per
 * residual gives each output. The weights are random, not zero, so the residuals move the picture.
 *
 * Inputs: sample [b, 4, h, w], timestep (as the UNet's), encoder_hidden_states [b, seq, ctx],
 * controlnet_cond [b, 3, 8h, 8w] in [0, 1]. Outputs, in diffusers' order: down_block_res_sample_<i>
 * [b, 32, h, w] for each down residual, then mid_block_res_sample.
 */
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { Net } from './net.ts';
import { Prng } from './rng.ts';
import { UNET_CHANNELS, type UnetSpec } from './unet.ts';

export interface ControlNetSpec {
  contextDim: number;
  timestep: UnetSpec['timestep'];
  residuals: number;
  fp16: boolean;
}

const TIME_FREQS = 16;

export function buildControlNet(spec: ControlNetSpec, rng: Prng): ModelProto {
  const c = UNET_CHANNELS;
  const net = new Net('controlnet', rng, spec.fp16);
  const g = net.g;

  const sample = net.floatInput('sample', ['batch', 4, 'height', 'width']);
  const timestep =
    spec.timestep.type === 'int64'
      ? g.cast(g.input('timestep', 'int64', spec.timestep.dims), 'float32')
      : net.floatInput('timestep', spec.timestep.dims);
  const context = net.floatInput('encoder_hidden_states', ['batch', 'sequence', spec.contextDim]);
  const cond = net.floatInput('controlnet_cond', ['batch', 3, 'image_height', 'image_width']);

  let temb = net.sinusoid(g.reshape(timestep, [-1]), TIME_FREQS);
  temb = g.linear(temb, net.dense('time_embedding.linear_1.weight', 2 * TIME_FREQS, c), net.filled('time_embedding.linear_1.bias', [c], 0));
  const text = g.matmul(g.op('ReduceMean', [context], { axes: [1], keepdims: 0 }), net.dense('text_proj.weight', spec.contextDim, c));

  const hint = g.conv(cond, net.randn('controlnet_cond_embedding.conv_in.weight', [c, 3, 8, 8], 2 / Math.sqrt(3 * 64)), net.filled('controlnet_cond_embedding.conv_in.bias', [c], 0), {
    strides: [8, 8],
  });
  let h = g.conv(sample, net.randn('conv_in.weight', [c, 4, 3, 3], 1 / Math.sqrt(36)), net.filled('conv_in.bias', [c], 0), { pads: [1, 1, 1, 1] });
  h = g.add(g.add(h, hint), g.add(g.reshape(temb, [-1, c, 1, 1]), g.reshape(text, [-1, c, 1, 1])));
  h = g.silu(h);

  const zeroConv = (name: string) => g.conv(h, net.randn(`${name}.weight`, [c, c, 1, 1], 0.5 / Math.sqrt(c)), net.filled(`${name}.bias`, [c], 0));
  for (let i = 0; i < spec.residuals; i++) net.floatOutput(`down_block_res_sample_${i}`, ['batch', c, 'height', 'width'], zeroConv(`controlnet_down_blocks.${i}`));
  net.floatOutput('mid_block_res_sample', ['batch', c, 'height', 'width'], zeroConv('controlnet_mid_block'));
  return net.toModel('Darkroom test model: random weights, one-block ControlNet. Not for use.');
}
