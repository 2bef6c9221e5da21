/**
 * Reading a diffusers `scheduler_config.json` the way diffusers' `from_config` does: each scheduler asks for
 * the keys its diffusers class has, with that class's own defaults; a key that is absent, null, or listed in
 * `_use_default_values` takes the default; keys a class does not have are ignored.
 */
import type { CustomTimesteps, NoiseFn, PredictionType, SchedulerConfig, TimestepSpacing, BetaSchedule, TrainingScheduleOptions } from './types.ts';

export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'];

export class ConfigReader {
  private readonly useDefaults: ReadonlySet<string>;

  constructor(
    private readonly config: SchedulerConfig,
    /** The diffusers class being configured, for error messages. */
    readonly owner: string,
  ) {
    const d = config['_use_default_values'];
    this.useDefaults = new Set(Array.isArray(d) ? d.filter((k): k is string => typeof k === 'string') : []);
  }

  /** The value of a key as from_config would pass it (undefined when absent, null or use-default). */
  value(key: string): unknown {
    return this.raw(key);
  }

  private raw(key: string): unknown {
    if (this.useDefaults.has(key)) return undefined;
    const v = this.config[key];
    return v === null ? undefined : v;
  }

  private bad(key: string, want: string, got: unknown): never {
    throw new TypeError(`${this.owner}: config key "${key}" must be ${want}, got ${JSON.stringify(got)}`);
  }

  number(key: string, def: number): number {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(key, 'a finite number', v);
    return v;
  }

  integer(key: string, def: number, min = 0): number {
    const v = this.number(key, def);
    if (!Number.isInteger(v) || v < min) this.bad(key, `an integer >= ${min}`, v);
    return v;
  }

  optionalNumber(key: string): number | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(key, 'a finite number or null', v);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.bad(key, 'true or false', v);
    return v;
  }

  choice<T extends string>(key: string, allowed: readonly T[], def: T): T {
    const v = this.raw(key);
    if (v === undefined) return def;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.bad(key, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
    }
    return v as T;
  }

  numbers(key: string): number[] | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      this.bad(key, 'an array of numbers or null', v);
    }
    return v as number[];
  }

  /** Options we do not implement: refuse them loudly rather than sample differently from diffusers. */
  rejectTrue(...keys: string[]): void {
    for (const key of keys) {
      if (this.bool(key, false)) throw new Error(`${this.owner}: ${key}=true is not supported by Darkroom`);
    }
  }

  prediction(allowed: readonly PredictionType[] = PREDICTION_TYPES): PredictionType {
    const p = this.choice('prediction_type', PREDICTION_TYPES, 'epsilon');
    if (!allowed.includes(p)) {
      throw new Error(`${this.owner}: prediction_type "${p}" is not supported (supported: ${allowed.join(', ')})`);
    }
    return p;
  }

  spacing(def: TimestepSpacing): TimestepSpacing {
    return this.choice<TimestepSpacing>('timestep_spacing', ['linspace', 'leading', 'trailing'], def);
  }

  /** The training-schedule keys, with the class's defaults (most classes: linear 0.0001..0.02). */
  training(
    defaults: { betaStart?: number; betaEnd?: number; betaSchedule?: BetaSchedule; zeroSnr: boolean },
  ): TrainingScheduleOptions {
    return {
      numTrainTimesteps: this.integer('num_train_timesteps', 1000, 2),
      betaStart: this.number('beta_start', defaults.betaStart ?? 0.0001),
      betaEnd: this.number('beta_end', defaults.betaEnd ?? 0.02),
      betaSchedule: this.choice<BetaSchedule>(
        'beta_schedule',
        ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
        defaults.betaSchedule ?? 'linear',
      ),
      trainedBetas: this.numbers('trained_betas'),
      // Only classes whose diffusers signature has the key read it; the others ignore it like from_config does.
      rescaleZeroSnr: defaults.zeroSnr ? this.bool('rescale_betas_zero_snr', false) : false,
    };
  }
}

/** Draws the step noise of a stochastic scheduler, checking it is shaped like the sample. */
export function drawNoise(noise: NoiseFn | undefined, length: number, owner: string): Float32Array {
  if (!noise) throw new Error(`${owner} is stochastic: step() needs a NoiseFn`);
  const n = noise();
  if (n.length !== length) throw new RangeError(`${owner}: noise has ${n.length} values, sample has ${length}`);
  return n;
}

export function assertSameLength(a: Float32Array, b: Float32Array, owner: string): void {
  if (a.length !== b.length) {
    throw new RangeError(`${owner}: model output has ${a.length} values, sample has ${b.length}`);
  }
}

/** addNoise: the noise must be shaped like the clean sample. */
export function assertNoiseLength(original: Float32Array, noise: Float32Array, owner: string): void {
  if (original.length !== noise.length) throw new RangeError(`${owner}: noise and sample lengths differ`);
}

/**
 * A begin index is any non-negative integer: one at or past the end of the schedule leaves nothing to run
 * (image-to-image at a strength that keeps no step), as in diffusers.
 */
export function assertBeginIndex(index: number, owner: string): void {
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError(`${owner}: begin index must be a non-negative integer, got ${index}`);
  }
}

export function notReady(owner: string): never {
  throw new Error(`${owner}: call setTimesteps() before stepping`);
}

/** The step count of a scheduler whose diffusers class takes no custom timesteps: it refuses them by name. */
export function stepCount(steps: number | CustomTimesteps, owner: string): number {
  if (typeof steps === 'number') return steps;
  throw new Error(`${owner}: custom timesteps are not supported by Darkroom for this scheduler`);
}

/** Custom timesteps as diffusers requires them: integer training timesteps, strictly descending. */
export function checkCustomTimesteps(timesteps: readonly number[], numTrainTimesteps: number, owner: string): number[] {
  if (timesteps.length === 0) throw new RangeError(`${owner}: custom timesteps must not be empty`);
  timesteps.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
      throw new RangeError(`${owner}: custom timesteps must be integers in 0..${numTrainTimesteps - 1}, got ${t}`);
    }
    if (i > 0 && t >= timesteps[i - 1]!) throw new RangeError(`${owner}: custom timesteps must be in descending order`);
  });
  return [...timesteps];
}
