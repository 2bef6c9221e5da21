/**
 * The "sigma" view of a variance-preserving schedule (Karras et al. 2022, https://arxiv.org/abs/2206.00364):
 * x_t = alpha_t * x0 + s_t * eps  with alpha_t^2 = alpha_bar_t, s_t^2 = 1 - alpha_bar_t, is the same point as
 * the variance-exploding x = x0 + sigma * eps scaled by alpha_t, where sigma = s_t / alpha_t.
 */
import { linspace } from './spacing.ts';

/** sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) for every training timestep (ascending in t). */
export function sigmasFromAlphasCumprod(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
}

/** `np.interp(x, arange(len(table)), table)`: linear interpolation on the integer grid, clamped at both ends. */
export function interpOnGrid(x: number, table: ArrayLike<number>): number {
  const n = table.length;
  if (!(x > 0)) return table[0]!;
  if (x >= n - 1) return table[n - 1]!;
  const j = Math.floor(x);
  const lo = table[j]!;
  return lo + (table[j + 1]! - lo) * (x - j);
}

/**
 * Fractional timestep of a sigma, interpolating linearly in log-sigma between the two neighbouring
 * training timesteps (diffusers `_sigma_to_t`, after k-diffusion). `logSigmas` is ascending in t.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // Last index whose log-sigma is <= ours (0 when none is), kept one short of the end so high exists.
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}

/** Karras et al. 2022, eq. 5: n sigmas from sigmaMax down to sigmaMin, evenly spaced in sigma^(1/rho). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  const ramp = linspace(0, 1, n);
  return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** The variance-preserving pair (alpha_t, s_t) of a sigma: alpha = 1/sqrt(sigma^2+1), s = sigma*alpha. */
export function alphaSigmaOf(sigma: number): { alpha: number; sigmaT: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigmaT: sigma * alpha };
}
