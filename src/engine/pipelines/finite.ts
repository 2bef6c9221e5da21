import { NonFiniteOutputError } from '../errors.ts';
import type { OnnxSession } from '../runtime/session.ts';

/**
 * Throws when `values` hold a NaN or an infinity, naming the component that made them: a black or
 * noise image from a float16 overflow becomes an error the engine can act on (engine.ts), not a result.
 */
export function checkFinite(values: Float32Array, component: string, session: OnnxSession): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) throw new NonFiniteOutputError(component, session.path); // NaN and ±Infinity only
  }
}
