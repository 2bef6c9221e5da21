/**
 * Timestep spacing: which of the training timesteps an n-step sampling run visits.
 * Reproduces numpy's linspace/arange/round exactly (diffusers computes these tables with numpy),
 * including round-half-to-even, so integer tables match diffusers entry for entry.
 * Background on the three spacings: Lin et al. 2023 (https://arxiv.org/abs/2305.08891), Table 2.
 */
import type { TimestepSpacing } from './types.ts';

export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['linspace', 'leading', 'trailing'];

/** numpy's rounding (`np.round`, `ndarray.round`): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** `np.linspace(start, stop, num, endpoint)`: start + i*step, the last point set to stop exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const out: number[] = [];
  if (num <= 0) return out;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out.push(div > 0 ? i * step + start : start);
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` for floats: length ceil((stop - start) / step), values start + i*delta
 * where delta = (start + step) - start, as numpy's fill does.
 */
export function arange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(start + i * delta);
  return out;
}

export function assertSteps(numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > numTrainTimesteps) {
    throw new RangeError(
      `numInferenceSteps must be an integer in 1..${numTrainTimesteps} (num_train_timesteps), got ${numInferenceSteps}`,
    );
  }
}

/**
 * The n descending timesteps of the single-step schedulers (DDIM, DDPM, Euler, Euler ancestral, LMS, Heun):
 *  - linspace: n points evenly over [0, T-1] (fractional unless `integer`),
 *  - leading:  0, r, 2r, ... with r = T // n, plus steps_offset,
 *  - trailing: T, T - T/n, ... rounded, minus 1 (always ends the schedule at T-1).
 * `integer` selects diffusers' int64 tables (linspace rounded); otherwise the values are float32
 * like diffusers' float tables (what the UNet is given).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  n: number,
  stepsOffset: number,
  integer: boolean,
): number[] {
  assertSteps(n, numTrainTimesteps);
  let ts: number[];
  if (spacing === 'linspace') {
    ts = linspace(0, numTrainTimesteps - 1, n).reverse();
    ts = integer ? ts.map(roundHalfEven) : ts.map(Math.fround);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(numTrainTimesteps / n);
    ts = [];
    for (let i = n - 1; i >= 0; i--) ts.push(i * ratio + stepsOffset);
  } else if (spacing === 'trailing') {
    ts = arange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((t) => roundHalfEven(t) - 1);
  } else {
    throw new Error(`unsupported timestep_spacing "${String(spacing)}" (supported: ${TIMESTEP_SPACINGS.join(', ')})`);
  }
  return ts;
}

/**
 * The n descending integer timesteps of the multistep solvers (DPM-Solver, UniPC): they space n+1 points
 * and drop the last (t = 0) one, because their final step goes to the separate final sigma instead.
 * `lastTimestep` is T, or less when DPM-Solver's lambda_min_clipped cuts the noisy end.
 */
export function multistepTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  lastTimestep: number,
  n: number,
  stepsOffset: number,
): number[] {
  assertSteps(n, numTrainTimesteps);
  if (spacing === 'linspace') {
    return linspace(0, lastTimestep - 1, n + 1).map(roundHalfEven).reverse().slice(0, n);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (n + 1));
    const ts: number[] = [];
    for (let i = n; i >= 1; i--) ts.push(i * ratio + stepsOffset);
    return ts;
  }
  if (spacing === 'trailing') {
    return arange(lastTimestep, 0, -numTrainTimesteps / n).map((t) => roundHalfEven(t) - 1);
  }
  throw new Error(`unsupported timestep_spacing "${String(spacing)}" (supported: ${TIMESTEP_SPACINGS.join(', ')})`);
}

/**
 * Position of `timestep` in the schedule, as diffusers' `index_for_timestep`: when it occurs twice
 * (Heun's duplicated list, rounded Karras timesteps) the *second* occurrence is taken, so a run that
 * starts mid-schedule does not skip a sigma. `missing` chooses between throwing and the last index
 * (DPM-Solver and UniPC fall back to the last index).
 */
export function indexForTimestep(
  timesteps: readonly number[],
  timestep: number,
  missing: 'throw' | 'last' = 'throw',
): number {
  const hits: number[] = [];
  for (let i = 0; i < timesteps.length && hits.length < 2; i++) if (timesteps[i] === timestep) hits.push(i);
  if (hits.length === 0) {
    if (missing === 'last') return timesteps.length - 1;
    throw new RangeError(`timestep ${timestep} is not in the schedule (call setTimesteps and pass one of its timesteps)`);
  }
  return hits.length > 1 ? hits[1]! : hits[0]!;
}

/** A timestep that indexes the training tables directly (the DDPM-family schedulers take integer timesteps). */
export function assertTrainTimestep(timestep: number, numTrainTimesteps: number, owner: string): void {
  if (!Number.isInteger(timestep) || timestep < 0 || timestep >= numTrainTimesteps) {
    throw new RangeError(`${owner}: timestep must be an integer in 0..${numTrainTimesteps - 1}, got ${timestep}`);
  }
}
