/**
 * Stability's sizes: explicit width/height (seed 002: 320-1536, multiples of 64) or an aspect ratio.
 * An aspect ratio alone gets the model's native pixel count (its default width x height) in that
 * shape, in multiples of 64 within 320-1536 and the model's own range.
 */
import type { CatalogModel } from '../../core/models.ts';

export const ASPECT_RATIOS = ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export const SIZE = { min: 320, max: 1536, multiple: 64 } as const;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export function sizeForAspect(aspect: AspectRatio, model: CatalogModel): { width: number; height: number } {
  const m = model.manifest;
  const [rw, rh] = aspect.split(':').map(Number) as [number, number];
  const hi = Math.min(SIZE.max, m.maxSize);
  const lo = hi >= SIZE.min ? Math.max(SIZE.min, m.minSize) : m.minSize;
  // A model that cannot draw 320 px (a tiny test model) still gets its shape, in multiples of 8.
  const step = hi >= SIZE.min ? SIZE.multiple : 8;
  const area = clamp(m.defaults.width * m.defaults.height, lo * lo, hi * hi);
  let w = Math.sqrt((area * rw) / rh);
  let h = (w * rh) / rw;
  const up = Math.max(1, lo / Math.min(w, h));
  w *= up;
  h *= up;
  const down = Math.min(1, hi / Math.max(w, h));
  w *= down;
  h *= down;
  // (+1e-9: 479.99999 from the square root is 480, and rounds up as 480 would.)
  const round = (v: number) => clamp(Math.round(v / step + 1e-9) * step, Math.ceil(lo / step) * step, Math.floor(hi / step) * step);
  return { width: round(w), height: round(h) };
}
