/**
 * Dynamic thresholding of the x0 prediction (Saharia et al. 2022, "Imagen", https://arxiv.org/abs/2205.11487):
 * diffusers' `thresholding` option and its `_threshold_sample`. Per image, s is the `ratio` quantile of |x0|, held
 * to [1, sample_max_value]; x0 is clamped to [-s, s] and divided by s, pulling saturated values inwards.
 *
 * It is the one scheduler operation that is not element-wise: it needs each image's values (diffusers works over
 * C*H*W of each batch row), so a scheduler configured with it needs SchedulerOptions.valuesPerImage.
 */
import type { ConfigReader } from './config.ts';

export interface Thresholding {
  ratio: number;
  maxValue: number;
  /** Values of one image in the flat sample; checked when stepping, so a model's config can be read without it. */
  valuesPerImage: number | undefined;
}

/** The config's thresholding (null when off), with diffusers' defaults (ratio 0.995, sample_max_value 1). */
export function readThresholding(c: ConfigReader, valuesPerImage: number | undefined): Thresholding | null {
  if (!c.bool('thresholding', false)) return null;
  const ratio = c.number('dynamic_thresholding_ratio', 0.995);
  if (ratio < 0 || ratio > 1) throw new TypeError(`${c.owner}: config key "dynamic_thresholding_ratio" must be between 0 and 1, got ${ratio}`);
  return { ratio, maxValue: c.number('sample_max_value', 1), valuesPerImage };
}

/** `torch.quantile(values, q)` (linear interpolation) of already sorted values, in float32 as torch computes it. */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  const f = Math.fround;
  const rank = f(f(q) * (sorted.length - 1));
  const below = Math.floor(rank);
  const above = Math.min(below + 1, sorted.length - 1);
  const w = f(rank - below);
  const a = f(sorted[below]!);
  const b = f(sorted[above]!);
  // torch's lerp: from the nearer end, so w = 1 gives b exactly.
  return w < 0.5 ? f(a + f(w * f(b - a))) : f(b - f(f(b - a) * f(1 - w)));
}

/** diffusers' _threshold_sample over each image of the batch, in place. */
export function thresholdSample(x0: Float64Array, t: Thresholding, owner: string): void {
  const valuesPerImage = t.valuesPerImage;
  if (valuesPerImage === undefined || !Number.isInteger(valuesPerImage) || valuesPerImage < 1) {
    throw new Error(`${owner}: thresholding works per image, so the scheduler needs valuesPerImage (channels * height * width of one latent)`);
  }
  if (x0.length % valuesPerImage !== 0) {
    throw new RangeError(`${owner}: the sample's ${x0.length} values are not whole images of ${valuesPerImage}`);
  }
  for (let start = 0; start < x0.length; start += valuesPerImage) {
    const image = x0.subarray(start, start + valuesPerImage);
    const sorted = image.map(Math.abs).sort();
    // torch.clamp(s, min=1, max=sample_max_value): max wins when it is below 1.
    const s = Math.min(Math.max(quantileOfSorted(sorted, t.ratio), 1), t.maxValue);
    for (let j = 0; j < image.length; j++) image[j] = Math.min(s, Math.max(-s, image[j]!)) / s;
  }
}
