/**
 * A CLIPTextModel-like text encoder (and, with `projectionDim`, CLIPTextModelWithProjection as SDXL's
 * text_encoder_2): token + position embeddings, pre-LayerNorm transformer layers with causal
 * self-attention and a quick-GELU MLP, a final LayerNorm. Pooling takes the final hidden state at
 * the first position of the largest token id (argmax of input_ids), as CLIP does: `<|endoftext|>`
 * is the last id of the vocabulary.
 *
 * Outputs, in optimum's order:
 *   CLIPTextModel:                 last_hidden_state [b,77,d], pooler_output [b,d], hidden_states.0..L
 *   CLIPTextModelWithProjection:   text_embeds [b,p], last_hidden_state [b,77,d], hidden_states.0..L
 * hidden_states.0 is the embedding output and hidden_states.i the output of layer i (before the
 * final LayerNorm), so hidden_states.(L-1) is the "penultimate" state SDXL conditions on.
 */
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { Net } from './net.ts';
import { Prng } from './rng.ts';
import { MAX_LENGTH } from './tokenizer.ts';

export interface TextEncoderSpec {
  vocabSize: number;
  dim: number;
  layers: number;
  idsType: 'int32' | 'int64';
  /** Also output hidden_states.0..layers (optimum's output_hidden_states export). */
  hiddenStates: boolean;
  /** CLIPTextModelWithProjection: output text_embeds [b, projectionDim] instead of pooler_output. */
  projectionDim?: number;
  fp16: boolean;
}

export function buildTextEncoder(spec: TextEncoderSpec, rng: Prng): ModelProto {
  const { dim: d, vocabSize } = spec;
  const net = new Net(spec.projectionDim ? 'text_encoder_2' : 'text_encoder', rng, spec.fp16);
  const g = net.g;
  const n = MAX_LENGTH;
  const ids = g.input('input_ids', spec.idsType, ['batch', n]);

  const tokens = g.op('Gather', [net.randn('embeddings.token_embedding.weight', [vocabSize, d], 1), ids], { axis: 0 });
  let h = g.add(tokens, net.randn('embeddings.position_embedding.weight', [n, d], 0.5));
  const hidden: string[] = [h];

  const causal = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) causal[i * n + j] = -1e4;
  const mask = g.constant(causal, [n, n], 'float32', 'causal_mask');

  for (let l = 0; l < spec.layers; l++) {
    const p = `encoder.layers.${l}`;
    const a = net.layerNorm(`${p}.layer_norm1`, h, d);
    const q = g.matmul(a, net.dense(`${p}.self_attn.q_proj.weight`, d, d));
    const k = g.matmul(a, net.dense(`${p}.self_attn.k_proj.weight`, d, d));
    const v = g.matmul(a, net.dense(`${p}.self_attn.v_proj.weight`, d, d));
    const attn = g.matmul(net.attention(q, k, v, d, mask), net.dense(`${p}.self_attn.out_proj.weight`, d, d));
    h = g.add(h, attn);
    const m = net.layerNorm(`${p}.layer_norm2`, h, d);
    const up = g.linear(m, net.dense(`${p}.mlp.fc1.weight`, d, 2 * d), net.filled(`${p}.mlp.fc1.bias`, [2 * d], 0));
    const act = g.mul(up, g.sigmoid(g.mul(up, net.scalar(1.702)))); // quick_gelu, as CLIP
    h = g.add(h, g.matmul(act, net.dense(`${p}.mlp.fc2.weight`, 2 * d, d, 0.5)));
    hidden.push(h);
  }
  const last = net.layerNorm('final_layer_norm', h, d);

  // pooled = last[b, argmax(input_ids[b])]: one-hot of the EOS position, then a batched matmul.
  const eos = g.op('ArgMax', [g.cast(ids, 'float32')], { axis: 1, keepdims: 0 }); // [b] int64
  const positions = g.constant(Array.from({ length: n }, (_, i) => i), [1, n], 'int64', 'positions');
  const onehot = g.cast(g.op('Equal', [positions, g.unsqueeze(eos, [1])]), 'float32'); // [b, n]
  const pooled = g.squeeze(g.matmul(g.unsqueeze(onehot, [1]), last), [1]); // [b, d]

  if (spec.projectionDim) {
    const proj = g.matmul(pooled, net.dense('text_projection.weight', d, spec.projectionDim));
    net.floatOutput('text_embeds', ['batch', spec.projectionDim], proj);
    net.floatOutput('last_hidden_state', ['batch', n, d], last);
  } else {
    net.floatOutput('last_hidden_state', ['batch', n, d], last);
    net.floatOutput('pooler_output', ['batch', d], pooled);
  }
  if (spec.hiddenStates) hidden.forEach((x, i) => net.floatOutput(`hidden_states.${i}`, ['batch', n, d], x));
  return net.toModel('Darkroom test model: random weights, CLIP-like text encoder. Not for use.');
}
