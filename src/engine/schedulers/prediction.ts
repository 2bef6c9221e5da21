/**
 * The model's estimate of the clean sample x0 from its output, by prediction type (diffusers'
 * `pred_original_sample`, k-diffusion's `denoised`), optionally clipped to [-clip, clip].
 * Two forms of the same noisy point, as the schedulers hold their samples:
 *  - variance-preserving (DDPM, LCM, DPM-Solver, UniPC): x_t = alpha_t x0 + s_t eps, v = alpha_t eps - s_t x0;
 *  - variance-exploding (Euler, Euler ancestral, LMS, Heun): x = x0 + sigma eps, the VP point divided by alpha_t.
 * Values stay float64, so a scheduler that goes on computing with them rounds only its own result.
 */
import type { PredictionType } from './types.ts';
import { alphaSigmaOf } from './sigmas.ts';
import { thresholdSample, type Thresholding } from './thresholding.ts';

/** x0 of a variance-preserving sample x_t = alpha * x0 + sigmaT * eps. */
export function predictX0Vp(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alpha: number,
  sigmaT: number,
  clip: number | null = null,
): Float64Array {
  const x0 = new Float64Array(sample.length);
  for (let j = 0; j < sample.length; j++) {
    const x = sample[j]!;
    const m = modelOutput[j]!;
    let p = prediction === 'epsilon' ? (x - sigmaT * m) / alpha : prediction === 'sample' ? m : alpha * x - sigmaT * m;
    if (clip !== null) p = Math.min(clip, Math.max(-clip, p));
    x0[j] = p;
  }
  return x0;
}

/** x0 of a variance-exploding sample x = x0 + sigma * eps (the model saw x / sqrt(sigma^2 + 1)). */
export function predictX0Ve(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
  clip: number | null = null,
): Float64Array {
  const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
  const xScale = 1 / (sigma * sigma + 1);
  const x0 = new Float64Array(sample.length);
  for (let j = 0; j < sample.length; j++) {
    const x = sample[j]!;
    const m = modelOutput[j]!;
    let p = prediction === 'epsilon' ? x - sigma * m : prediction === 'sample' ? m : m * vScale + x * xScale;
    if (clip !== null) p = Math.min(clip, Math.max(-clip, p));
    x0[j] = p;
  }
  return x0;
}

/** The multistep solvers' data prediction at sigma (VP sample), thresholded when configured, as float32 like the model output. */
export function dataPrediction(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
  thresholding: Thresholding | null,
  owner: string,
): Float32Array {
  const { alpha, sigmaT } = alphaSigmaOf(sigma);
  const x0 = predictX0Vp(prediction, modelOutput, sample, alpha, sigmaT);
  if (thresholding) thresholdSample(x0, thresholding, owner);
  return Float32Array.from(x0);
}

/** The noise the model predicts at sigma (VP sample), as float32: UniPC's model output when predict_x0 is false. */
export function noisePrediction(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  if (prediction === 'epsilon') return modelOutput.slice();
  const { alpha, sigmaT } = alphaSigmaOf(sigma);
  return prediction === 'sample'
    ? modelOutput.map((m, j) => (sample[j]! - alpha * m) / sigmaT)
    : modelOutput.map((m, j) => alpha * m + sigmaT * sample[j]!);
}
