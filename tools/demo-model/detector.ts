/**
 * A detector for the demo model's synthetic scenes (one object on a flat background):
 *
 * - background: the palette color most border pixels are nearest to;
 * - object: the largest 4-connected region of pixels far (in RGB) from the border's mean color;
 * - color: the palette color most of that region's clean (non-edge) pixels are nearest to;
 * - shape: from the region's mask: a hole (background enclosed by the region) → ring; low solidity
 *   (area / convex hull area) → star; otherwise fill of the bounding box: ≈1 square, ≈0.79 circle,
 *   ≈0.5 triangle;
 * - position: the nearest of the grammar's five anchor points to the region's centroid.
 *
 * It is checked against the renderer's own images (test/demo-model/detector.test.ts), so a detector
 * bug cannot pass for a model bug.
 */
import { COLORS, GRAMMAR, POSITIONS } from './scenes.ts';

export interface Detection {
  background: string;
  color: string | null;
  shape: string | null;
  position: string | null;
  /** Separate regions of at least 0.2 % of the image (the object, and any others drawn). */
  objects: number;
  features: { area: number; fill: number; solidity: number; hole: number; cx: number; cy: number } | null;
}

const PALETTE = COLORS.map((name) => ({ name, rgb: GRAMMAR.colors[name]! }));

function nearest(r: number, g: number, b: number): { index: number; dist: number } {
  let index = 0;
  let dist = Infinity;
  PALETTE.forEach((p, i) => {
    const d = (r - p.rgb[0]) ** 2 + (g - p.rgb[1]) ** 2 + (b - p.rgb[2]) ** 2;
    if (d < dist) {
      dist = d;
      index = i;
    }
  });
  return { index, dist: Math.sqrt(dist) };
}

function argmax(counts: number[]): number {
  let best = 0;
  counts.forEach((c, i) => {
    if (c > counts[best]!) best = i;
  });
  return best;
}

/** Area of the convex hull of points (Andrew's monotone chain). */
function hullArea(points: [number, number][]): number {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return 0;
  const cross = (o: [number, number], a: [number, number], b: [number, number]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: [number, number][] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  const hull = [...lower.slice(0, -1), ...upper.slice(0, -1)];
  let area = 0;
  for (let i = 0; i < hull.length; i++) {
    const [x1, y1] = hull[i]!;
    const [x2, y2] = hull[(i + 1) % hull.length]!;
    area += x1 * y2 - x2 * y1;
  }
  return Math.abs(area) / 2;
}

/** Labels of 4-connected components of `mask` (1 = in); returns the component ids and their sizes. */
function components(mask: Uint8Array, w: number, h: number): { label: Int32Array; sizes: number[] } {
  const label = new Int32Array(w * h).fill(-1);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || label[s] !== -1) continue;
    const id = sizes.length;
    let size = 0;
    label[s] = id;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const x = i % w;
      const y = (i - x) / w;
      const next = [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, y > 0 ? i - w : -1, y < h - 1 ? i + w : -1];
      for (const j of next) {
        if (j >= 0 && mask[j] && label[j] === -1) {
          label[j] = id;
          stack.push(j);
        }
      }
    }
    sizes.push(size);
  }
  return { label, sizes };
}

/** One region of the image read as an object: its color, shape and centroid (fractions of the side). */
export interface RegionReading {
  color: string | null;
  shape: string;
  cx: number;
  cy: number;
  area: number;
  fill: number;
  solidity: number;
  hole: number;
}

interface Segmentation {
  background: string;
  bgIndex: number;
  label: Int32Array;
  /** Region ids of at least 0.2 % of the image, largest first, with their sizes. */
  regions: { id: number; size: number }[];
}

/** Background (the border's palette color) and the regions far from it. */
function segment(rgb: Uint8Array, w: number, h: number): Segmentation {
  const n = w * h;
  // Background: vote of the border pixels (a 3-pixel frame).
  const votes = new Array<number>(PALETTE.length).fill(0);
  const sum = [0, 0, 0];
  let count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= 3 && x < w - 3 && y >= 3 && y < h - 3) continue;
      const i = 3 * (y * w + x);
      votes[nearest(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!).index]!++;
    }
  }
  const bgIndex = argmax(votes);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= 3 && x < w - 3 && y >= 3 && y < h - 3) continue;
      const i = 3 * (y * w + x);
      if (nearest(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!).index !== bgIndex) continue;
      sum[0] += rgb[i]!;
      sum[1] += rgb[i + 1]!;
      sum[2] += rgb[i + 2]!;
      count++;
    }
  }
  const bg = sum.map((s) => s / Math.max(1, count));
  const background = PALETTE[bgIndex]!.name;

  // Foreground: far from the background's color; keep the largest connected region.
  const fg = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const d = Math.hypot(rgb[3 * i]! - bg[0]!, rgb[3 * i + 1]! - bg[1]!, rgb[3 * i + 2]! - bg[2]!);
    fg[i] = d > 70 ? 1 : 0;
  }
  const { label, sizes } = components(fg, w, h);
  const regions = sizes
    .map((size, id) => ({ id, size }))
    .filter((r) => r.size >= 0.002 * n)
    .sort((a, b) => b.size - a.size);
  return { background, bgIndex, label, regions };
}

function nearestPosition(cx: number, cy: number): string {
  let position = POSITIONS[0]!;
  let best = Infinity;
  for (const p of POSITIONS) {
    const [ax, ay] = GRAMMAR.positions[p]!.at;
    const d = (cx - ax) ** 2 + (cy - ay) ** 2;
    if (d < best) {
      best = d;
      position = p;
    }
  }
  return position;
}

/** Detects background, object color, shape and position in interleaved RGB bytes (the largest object is read). */
export function detect(rgb: Uint8Array, w: number, h: number): Detection {
  const seg = segment(rgb, w, h);
  const objects = seg.regions.length;
  if (objects === 0) return { background: seg.background, color: null, shape: null, position: null, objects, features: null };
  const r = readRegion(rgb, w, h, seg, seg.regions[0]!.id);
  const { color, shape, ...features } = r;
  return { background: seg.background, color, shape, position: nearestPosition(r.cx, r.cy), objects, features };
}

/** Background and every object region (largest first), for two-object prompts. */
export function detectAll(rgb: Uint8Array, w: number, h: number): { background: string; objects: RegionReading[] } {
  const seg = segment(rgb, w, h);
  return { background: seg.background, objects: seg.regions.map((r) => readRegion(rgb, w, h, seg, r.id)) };
}

function readRegion(rgb: Uint8Array, w: number, h: number, seg: Segmentation, id: number): RegionReading {
  const n = w * h;
  const { label, bgIndex } = seg;
  const obj = new Uint8Array(n);
  let area = 0;
  for (let i = 0; i < n; i++) {
    obj[i] = label[i] === id ? 1 : 0;
    area += obj[i]!;
  }

  // Holes: pixels outside the object that the image border cannot reach.
  const outside = new Uint8Array(n);
  for (let i = 0; i < n; i++) outside[i] = obj[i] ? 0 : 1;
  const rest = components(outside, w, h);
  const touches = new Set<number>();
  for (let x = 0; x < w; x++) {
    touches.add(rest.label[x]!);
    touches.add(rest.label[(h - 1) * w + x]!);
  }
  for (let y = 0; y < h; y++) {
    touches.add(rest.label[y * w]!);
    touches.add(rest.label[y * w + w - 1]!);
  }
  let holeArea = 0;
  const filled = new Uint8Array(obj);
  for (let i = 0; i < n; i++) {
    if (!obj[i] && !touches.has(rest.label[i]!)) {
      holeArea++;
      filled[i] = 1;
    }
  }

  // Color: vote of the object's pixels that are close to a palette color (edges blend two colors).
  const colorVotes = new Array<number>(PALETTE.length).fill(0);
  const looseVotes = new Array<number>(PALETTE.length).fill(0);
  for (let i = 0; i < n; i++) {
    if (!obj[i]) continue;
    const near = nearest(rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!);
    if (near.index === bgIndex) continue;
    looseVotes[near.index]!++;
    if (near.dist < 60) colorVotes[near.index]!++;
  }
  const votesFor = colorVotes.some((v) => v > 0) ? colorVotes : looseVotes;
  const color = votesFor.some((v) => v > 0) ? PALETTE[argmax(votesFor)]!.name : null;

  // Shape features of the filled region.
  let x0 = w;
  let x1 = -1;
  let y0 = h;
  let y1 = -1;
  let sx = 0;
  let sy = 0;
  let filledArea = 0;
  const rowExtents: [number, number][] = [];
  for (let y = 0; y < h; y++) {
    let lo = -1;
    let hi = -1;
    for (let x = 0; x < w; x++) {
      if (!filled[y * w + x]) continue;
      if (lo < 0) lo = x;
      hi = x;
      filledArea++;
      sx += x + 0.5;
      sy += y + 0.5;
    }
    if (lo < 0) continue;
    x0 = Math.min(x0, lo);
    x1 = Math.max(x1, hi);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
    rowExtents.push([lo, y], [hi + 1, y], [lo, y + 1], [hi + 1, y + 1]);
  }
  const fill = filledArea / ((x1 - x0 + 1) * (y1 - y0 + 1));
  const solidity = filledArea / Math.max(1, hullArea(rowExtents));
  const hole = holeArea / filledArea;
  let shape: string;
  if (hole > 0.05) shape = 'ring';
  else if (solidity < 0.75) shape = 'star';
  else if (fill > 0.9) shape = 'square';
  else if (fill > 0.64) shape = 'circle';
  else shape = 'triangle';

  const cx = sx / filledArea / w;
  const cy = sy / filledArea / h;
  return { color, shape, cx, cy, area, fill, solidity, hole };
}
