/**
 * Where a run stands in its schedule: diffusers' `_step_index` and `_begin_index`, for the schedulers that keep
 * a position (the sigma-based ones, DPM-Solver, UniPC, LCM).
 *
 * The index is set on the first call of a run: to the begin index when image-to-image set one, else by looking
 * the timestep up in the schedule. Each step then advances it by one.
 */
import { assertBeginIndex } from './config.ts';
import { indexForTimestep } from './spacing.ts';

export class StepIndex {
  private index: number | null = null;
  private begin: number | null = null;

  constructor(
    /** The diffusers class, for error messages. */
    private readonly owner: string,
    /** A timestep that is not in the schedule: an error, or the last index (DPM-Solver and UniPC). */
    private readonly missing: 'throw' | 'last' = 'throw',
  ) {}

  /** A new schedule (setTimesteps): no begin index, no position. */
  clear(): void {
    this.index = null;
    this.begin = null;
  }

  /** setBeginIndex: the next run starts at timesteps[index]. */
  setBegin(index: number): void {
    assertBeginIndex(index, this.owner);
    this.begin = index;
    this.index = null;
  }

  /** Forgets the position, keeping the begin index. */
  restart(): void {
    this.index = null;
  }

  /**
   * The index of this call, initialised on first use from the begin index or by looking the timestep up.
   * `forStep` false also allows the index one past the last step: scaleModelInput may be called there
   * (a preview of the final sample), where it reads the final sigma.
   */
  current(timesteps: readonly number[], timestep: number, forStep = true): number {
    if (this.index === null) this.index = this.begin ?? indexForTimestep(timesteps, timestep, this.missing);
    if (this.index > timesteps.length || (forStep && this.index === timesteps.length)) {
      throw new RangeError(`${this.owner}: stepped past the last timestep`);
    }
    return this.index;
  }

  /** A step is done: the next call is at the following index. */
  advance(): void {
    this.index = this.index! + 1;
  }

  /**
   * The index addNoise noises to, as diffusers: the timestep's own index without a begin index, else the
   * begin index (or the position, once a run has started).
   */
  forAddNoise(timesteps: readonly number[], timestep: number): number {
    return this.begin === null ? indexForTimestep(timesteps, timestep, this.missing) : (this.index ?? this.begin);
  }
}
