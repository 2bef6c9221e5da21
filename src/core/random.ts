import { randomInt } from 'node:crypto';

/** A random seed as Stablecog picks one: 0 .. 2^31 - 2. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 31 - 1);
}
