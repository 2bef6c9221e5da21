/**
 * A scheduler run as a table of per-step coefficients, for the schedulers whose step is linear in its
 * inputs (Euler, Euler ancestral, DDIM, DPM++ 2M and 2M SDE, LCM), and the step kernel that reads it. With state x
 * (the latents as the scheduler holds them), model output m and the previous step's prediction p', step j:
 *   model input  = scale_j x
 *   prediction p = clip(predX_j x + predM_j m, ±clip_j)        (x0 for every covered scheduler)
 *   next x       = nextX_j x + nextPred_j p + nextPrev_j p' + nextM_j m + nextNoise_j z_j
 * One form, two implementations: `stepByTable` here (JS, held to the schedulers' own `step` by the diffusers
 * scenario fixtures) and the ONNX Loop graph (models/loop-graph.ts), so a run can leave the whole loop to the device.
 *
 * Schedulers that keep the JS loop, and why: thresholding (a per-image quantile, not element-wise); Heun (two
 * model calls per step with a carried derivative); LMS (up to 4 past derivatives: more history than one carried prediction);
 * PNDM (its Runge-Kutta warm-up and 4-step history); UniPC (a corrector that reuses the next model output);
 * DDPM (linear too, not done yet: a 1000-step sampler gains least from it).
 */
import type { PredictionType } from './types.ts';

/** The coefficients of one step (see the file comment for where each goes). */
export interface StepCoefficients {
  timestep: number;
  scale: number;
  predX: number;
  predM: number;
  /** Bound of |prediction| (clip_sample); Infinity when not clipped. */
  clip: number;
  nextX: number;
  nextPred: number;
  nextPrev: number;
  nextM: number;
  nextNoise: number;
  /** Whether the scheduler draws noise at this step (it consumes one draw of the run's noise streams even where nextNoise is 0). */
  drawsNoise: boolean;
  /** The model-input scale of the sample this step leaves (what a preview of it is decoded from). */
  previewScale: number;
}

/** The steps of a run from its begin index on, in order. */
export type StepTable = readonly StepCoefficients[];

/** Coefficient columns, in the order `tableColumns` lays them out for the Loop graph. */
export const COEFFICIENT_COLUMNS = ['scale', 'predX', 'predM', 'clip', 'nextX', 'nextPred', 'nextPrev', 'nextM', 'nextNoise'] as const;

/** The table as one float32 [steps, columns] tensor (row-major). */
export function tableColumns(table: StepTable): Float32Array {
  const out = new Float32Array(table.length * COEFFICIENT_COLUMNS.length);
  table.forEach((row, j) => COEFFICIENT_COLUMNS.forEach((k, c) => (out[j * COEFFICIENT_COLUMNS.length + c] = row[k])));
  return out;
}

/** A step with every coefficient but the ones given zero: the starting point of each scheduler's rows. */
export function stepRow(timestep: number, row: Partial<Omit<StepCoefficients, 'timestep'>>): StepCoefficients {
  return {
    timestep,
    scale: 1,
    predX: 0,
    predM: 0,
    clip: Infinity,
    nextX: 0,
    nextPred: 0,
    nextPrev: 0,
    nextM: 0,
    nextNoise: 0,
    drawsNoise: false,
    previewScale: 1,
    ...row,
  };
}

/** x0 = predX x + predM m for a variance-exploding sample x = x0 + sigma eps (prediction.ts' predictX0Ve). */
export function x0CoefficientsVe(prediction: PredictionType, sigma: number): { predX: number; predM: number } {
  if (prediction === 'epsilon') return { predX: 1, predM: -sigma };
  if (prediction === 'sample') return { predX: 0, predM: 1 };
  return { predX: 1 / (sigma * sigma + 1), predM: -sigma / Math.sqrt(sigma * sigma + 1) };
}

/** x0 = predX x + predM m for a variance-preserving sample x = alpha x0 + sigmaT eps (prediction.ts' predictX0Vp). */
export function x0CoefficientsVp(prediction: PredictionType, alpha: number, sigmaT: number): { predX: number; predM: number } {
  if (prediction === 'epsilon') return { predX: 1 / alpha, predM: -sigmaT / alpha };
  if (prediction === 'sample') return { predX: 0, predM: 1 };
  return { predX: alpha, predM: -sigmaT };
}

/** 1 / sqrt(sigma^2 + 1): the model-input scale of the sigma-based schedulers. */
export function sigmaInputScale(sigma: number): number {
  return 1 / Math.sqrt(sigma * sigma + 1);
}

export function scaleByTable(row: StepCoefficients, x: Float32Array): Float32Array {
  return x.map((v) => v * row.scale);
}

/** One step of the table in JS: the next sample and this step's prediction (the next step's p'). */
export function stepByTable(
  row: StepCoefficients,
  x: Float32Array,
  m: Float32Array,
  prev: Float32Array | null,
  noise: Float32Array | null,
): { next: Float32Array; prediction: Float32Array } {
  if (row.nextNoise !== 0 && !noise) throw new Error('this step needs noise');
  if (row.nextPrev !== 0 && !prev) throw new Error('this step needs the previous prediction');
  const next = new Float32Array(x.length);
  const prediction = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const p = Math.min(row.clip, Math.max(-row.clip, row.predX * x[j]! + row.predM * m[j]!));
    prediction[j] = p;
    let v = row.nextX * x[j]! + row.nextPred * p + row.nextM * m[j]!;
    if (row.nextPrev !== 0) v += row.nextPrev * prev![j]!;
    if (row.nextNoise !== 0) v += row.nextNoise * noise![j]!;
    next[j] = v;
  }
  return { next, prediction };
}
