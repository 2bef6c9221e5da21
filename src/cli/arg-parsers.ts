/**
 * Option-value parsers for commander. They throw InvalidArgumentError, so commander's message names
 * the option and the value (`option '--steps <n>' argument 'abc' is invalid. not a number`).
 */
import { InvalidArgumentError } from 'commander';

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number');
  return n;
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0) throw new InvalidArgumentError('not a positive integer');
  return Number(value);
}
