/**
 * transformers' CLIPTextModel (and CLIPTextModelWithProjection, SDXL's text_encoder_2) as an ONNX
 * graph: token + position embeddings → pre-LayerNorm layers (causal multi-head self-attention with
 * biased q/k/v/out projections, MLP with quick_gelu or gelu) → final LayerNorm; pooled output at
 * the end-of-text token (argmax of input_ids). Parameter names are transformers' (text_model.*).
 *
 * Input input_ids int32 [batch, 77]. Outputs as optimum exports them: last_hidden_state and
 * pooler_output (or text_embeds first, with a projection), plus hidden_states.0..L when asked.
 */
import type { TextEncoderConfig } from './configs.ts';
import type { BenchNet } from './net.ts';

export function buildTextEncoder(net: BenchNet, cfg: TextEncoderConfig): void {
  const g = net.g;
  const { dim: d, positions: n } = cfg;
  const ids = g.input('input_ids', 'int32', ['batch', n]);
  const p = 'text_model';

  const tokens = g.op('Gather', [net.param(`${p}.embeddings.token_embedding.weight`, [cfg.vocabSize, d], { std: 1 }), ids], { axis: 0 });
  let h = g.add(tokens, net.param(`${p}.embeddings.position_embedding.weight`, [n, d], { std: 0.5 }));
  const hidden = [h];

  const causal = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) causal[i * n + j] = -1e4;
  const mask = net.constant(causal, [n, n], 'causal_mask');

  for (let l = 0; l < cfg.layers; l++) {
    const lp = `${p}.encoder.layers.${l}`;
    const a = net.layerNorm(h, `${lp}.layer_norm1`, d);
    const q = net.linear(a, `${lp}.self_attn.q_proj`, d, d);
    const k = net.linear(a, `${lp}.self_attn.k_proj`, d, d);
    const v = net.linear(a, `${lp}.self_attn.v_proj`, d, d);
    const attn = net.linear(net.attention(q, k, v, cfg.heads, d / cfg.heads, mask), `${lp}.self_attn.out_proj`, d, d, { gain: 0.5 });
    h = g.add(h, attn);
    const m = net.layerNorm(h, `${lp}.layer_norm2`, d);
    const up = net.linear(m, `${lp}.mlp.fc1`, d, cfg.mlpDim);
    const act = cfg.act === 'gelu' ? net.gelu(up) : net.quickGelu(up);
    h = g.add(h, net.linear(act, `${lp}.mlp.fc2`, cfg.mlpDim, d, { gain: 0.5 }));
    hidden.push(h);
  }
  const last = net.layerNorm(h, `${p}.final_layer_norm`, d);

  // pooled = last[b, argmax(input_ids[b])], as a one-hot batched MatMul.
  const eos = g.op('ArgMax', [g.cast(ids, 'float32')], { axis: 1, keepdims: 0 }); // float: ArgMax kernels on every EP
  const positions = g.constant(Array.from({ length: n }, (_, i) => i), [1, n], 'int64', 'positions');
  const onehot = net.toFloat(g.op('Equal', [positions, g.unsqueeze(eos, [1])]));
  const pooled = g.squeeze(g.matmul(g.unsqueeze(onehot, [1]), last), [1]);

  if (cfg.projectionDim) {
    net.floatOutput('text_embeds', ['batch', cfg.projectionDim], net.linear(pooled, 'text_projection', d, cfg.projectionDim, { bias: false }));
    net.floatOutput('last_hidden_state', ['batch', n, d], last);
  } else {
    net.floatOutput('last_hidden_state', ['batch', n, d], last);
    net.floatOutput('pooler_output', ['batch', d], pooled);
  }
  if (cfg.hiddenStates) hidden.forEach((x, i) => net.floatOutput(`hidden_states.${i}`, ['batch', n, d], x));
}
