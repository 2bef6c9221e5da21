/**
 * How token weights act on the text encoder's output: A1111's "Original" emphasis
 * (modules/sd_emphasis.py, EmphasisOriginal, applied per chunk in sd_hijack_clip.py process_tokens).
 * Each token's hidden state is multiplied by its weight, then the whole chunk is rescaled so that its
 * mean equals the mean it had before: weights move attention between tokens without changing the
 * overall magnitude the UNet was trained on.
 */

/**
 * Weighted copy of one chunk's hidden states [tokens, dim]; the same array when every weight is 1
 * (the step is then the identity, and an all-zero chunk would otherwise divide 0 by 0).
 * Float32 throughout, as torch computes it: the weights are float32 tensors there too.
 */
export function applyWeights(hidden: Float32Array, weights: readonly number[], dim: number): Float32Array {
  if (weights.every((w) => w === 1)) return hidden;
  if (hidden.length !== weights.length * dim) throw new Error(`hidden states of ${hidden.length} values do not hold ${weights.length} tokens of ${dim}`);
  const originalMean = mean(hidden);
  const out = new Float32Array(hidden.length);
  for (let t = 0; t < weights.length; t++) {
    const w = Math.fround(weights[t]!);
    for (let i = t * dim; i < (t + 1) * dim; i++) out[i] = hidden[i]! * w;
  }
  const newMean = mean(out);
  // A chunk whose weighted mean is exactly 0 cannot be rescaled; A1111 would fill it with NaN.
  if (newMean === 0) return out;
  const scale = Math.fround(originalMean / newMean);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! * scale;
  return out;
}

function mean(x: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]!;
  return Math.fround(sum / x.length);
}
