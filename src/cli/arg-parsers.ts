/**
 * Numeric flag values. A refusal is Darkroom's own, naming the flag and what it takes, like the
 * server's checks (never commander's `option '--steps <n>' argument 'abc' is invalid`).
 */
import { FlagError } from './flag-error.ts';

/**
 * A numeric flag's text as a number; NaN when it is none, so that the check of its field (the server's,
 * over the model's limits) refuses it with the field's range. Absent stays absent.
 */
export function numberFrom(text: unknown): number | undefined {
  if (text === undefined || typeof text === 'number') return text;
  const s = String(text);
  return s.trim() === '' ? Number.NaN : Number(s);
}

/** A commander parser for `flag`: a positive integer, else a FlagError naming the flag (main.ts prints it, exit 1). */
export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) <= 0 || !Number.isSafeInteger(Number(value))) throw new FlagError(flag, `must be a positive integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}
