/**
 * diffusers' AutoencoderKL decoder as optimum exports it (vae_decoder/model.onnx, post_quant_conv
 * included): post_quant_conv → conv_in → mid block (ResNet, single-head attention, ResNet) → up
 * blocks (layers_per_block + 1 ResNets each, nearest ×2 + conv between them) → GroupNorm → SiLU →
 * conv_out. Parameter names are diffusers' (decoder.*).
 *
 * Input latent_sample [batch, 4, height, width]; output sample [batch, 3, 8 height, 8 width].
 */
import type { VaeDecoderConfig } from './configs.ts';
import type { BenchNet } from './net.ts';

const EPS = 1e-6;

export function buildVaeDecoder(net: BenchNet, cfg: VaeDecoderConfig): void {
  const g = net.g;
  const groups = cfg.normGroups;
  const resnet = (x: string, name: string, cin: number, cout: number): string => {
    let h = net.conv(net.silu(net.groupNorm(x, `${name}.norm1`, cin, groups, EPS)), `${name}.conv1`, cin, cout, 3);
    h = net.conv(net.silu(net.groupNorm(h, `${name}.norm2`, cout, groups, EPS)), `${name}.conv2`, cout, cout, 3, { gain: 0.5 });
    return g.add(cin === cout ? x : net.conv(x, `${name}.conv_shortcut`, cin, cout, 1), h);
  };

  const z = net.floatInput('latent_sample', ['batch', cfg.latentChannels, 'height', 'width']);
  const top = cfg.blockChannels[cfg.blockChannels.length - 1]!;
  let h = net.conv(z, 'post_quant_conv', cfg.latentChannels, cfg.latentChannels, 1);
  h = net.conv(h, 'decoder.conv_in', cfg.latentChannels, top, 3);

  h = resnet(h, 'decoder.mid_block.resnets.0', top, top);
  {
    const name = 'decoder.mid_block.attentions.0';
    const n = net.groupNorm(h, `${name}.group_norm`, top, groups, EPS);
    const nhwc = g.transpose(n, [0, 2, 3, 1]);
    const tokens = g.reshape(nhwc, [0, -1, top]);
    const q = net.linear(tokens, `${name}.to_q`, top, top);
    const k = net.linear(tokens, `${name}.to_k`, top, top);
    const v = net.linear(tokens, `${name}.to_v`, top, top);
    const o = net.linear(net.attention(q, k, v, 1, top), `${name}.to_out.0`, top, top, { gain: 0.5 });
    h = g.add(h, g.transpose(g.reshape(o, g.shape(nhwc)), [0, 3, 1, 2]));
  }
  h = resnet(h, 'decoder.mid_block.resnets.1', top, top);

  const reversed = [...cfg.blockChannels].reverse();
  let prev = top;
  reversed.forEach((out, b) => {
    for (let l = 0; l <= cfg.layersPerBlock; l++) h = resnet(h, `decoder.up_blocks.${b}.resnets.${l}`, l === 0 ? prev : out, out);
    if (b < reversed.length - 1) {
      const scales = g.constant([1, 1, 2, 2], [4], 'float32', 'scales');
      const up = g.op('Resize', [h, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
      h = net.conv(up, `decoder.up_blocks.${b}.upsamplers.0.conv`, out, out, 3);
    }
    prev = out;
  });

  const c0 = cfg.blockChannels[0]!;
  h = net.conv(net.silu(net.groupNorm(h, 'decoder.conv_norm_out', c0, groups, EPS)), 'decoder.conv_out', c0, 3, 3);
  net.floatOutput('sample', ['batch', 3, 'image_height', 'image_width'], h);
}
