/**
 * The demo model's domain in TypeScript: the caption grammar (tools/demo-model/grammar.json, shared
 * with the Python trainer) and a renderer that draws scenes exactly as train.py does (signed distance
 * functions, anti-aliased over one pixel). CI has no Python: the evaluator's prompts and the
 * detector's self-test images come from here.
 */
import { readFileSync } from 'node:fs';

export interface Grammar {
  colors: Record<string, [number, number, number]>;
  shapes: string[];
  shapeWords: Record<string, string[]>;
  sizes: Record<string, { radius: [number, number]; words: string[] }>;
  positions: Record<string, { at: [number, number]; words: string[] }>;
  jitter: number;
  background: string[];
  single: string[];
  double: string[];
  pairs: [string, string][];
  doubleSizes: string[];
}

export const GRAMMAR: Grammar = JSON.parse(readFileSync(new URL('./grammar.json', import.meta.url), 'utf8')) as Grammar;
export const COLORS = Object.keys(GRAMMAR.colors);
export const SHAPES = GRAMMAR.shapes;
export const POSITIONS = Object.keys(GRAMMAR.positions);

export interface SceneObject {
  shape: string;
  color: string;
  /** Radius and center, as fractions of the image side. */
  r: number;
  x: number;
  y: number;
}

export interface Scene {
  bg: string;
  objects: SceneObject[];
}

/** What a prompt asks for (one object): every attribute the evaluator scores. */
export interface PromptSpec {
  prompt: string;
  color: string;
  shape: string;
  position: string;
  background: string;
  size: string;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

function objectPhrase(rand: () => number, color: string, shape: string, size: string): string {
  const words: string[] = [];
  const sizeWords = GRAMMAR.sizes[size]!.words;
  if (sizeWords.length && rand() < 0.8) words.push(pick(rand, sizeWords));
  words.push(color, pick(rand, GRAMMAR.shapeWords[shape]!));
  const r = rand();
  const article = r < 0.65 ? ('aeiou'.includes(words[0]![0]!) ? 'an' : 'a') : r < 0.75 ? 'the' : r < 0.8 ? 'one' : '';
  return [article, ...words].filter(Boolean).join(' ');
}

/**
 * A random one-object prompt that states color, shape, position and background (size sometimes),
 * in one of the grammar's phrasings, e.g. "a big yellow star at the top, black background".
 */
export function samplePrompt(rand: () => number): PromptSpec {
  const background = pick(rand, COLORS);
  const color = pick(
    rand,
    COLORS.filter((c) => c !== background),
  );
  const shape = pick(rand, SHAPES);
  const position = pick(rand, POSITIONS);
  const size = pick(rand, ['small', 'medium', 'large']);
  const template = pick(
    rand,
    GRAMMAR.single.filter((t) => t.includes('{pos}') && (t.includes('{bg}') || t.includes('{bgcolor}'))),
  );
  const prompt = template
    .replace('{obj}', objectPhrase(rand, color, shape, size))
    .replace('{pos}', pick(rand, GRAMMAR.positions[position]!.words))
    .replace('{bg}', pick(rand, GRAMMAR.background))
    .replaceAll('{bg}', background)
    .replaceAll('{bgcolor}', background);
  return { prompt, color, shape, position, background, size };
}

/** What a two-object prompt asks for ("a red circle on the left and a blue square on the right on white"). */
export interface PairSpec {
  prompt: string;
  background: string;
  objects: [Omit<PromptSpec, 'prompt' | 'background'>, Omit<PromptSpec, 'prompt' | 'background'>];
}

/** A random two-object prompt with both places and the background stated, as the trainer's pair captions. */
export function samplePairPrompt(rand: () => number): PairSpec {
  const background = pick(rand, COLORS);
  const c1 = pick(rand, COLORS.filter((c) => c !== background));
  const c2 = pick(rand, COLORS.filter((c) => c !== background && c !== c1));
  const [p1, p2] = pick(rand, GRAMMAR.pairs);
  const objects: PairSpec['objects'] = [
    { color: c1, shape: pick(rand, SHAPES), position: p1, size: pick(rand, GRAMMAR.doubleSizes) },
    { color: c2, shape: pick(rand, SHAPES), position: p2, size: pick(rand, GRAMMAR.doubleSizes) },
  ];
  const template = pick(rand, GRAMMAR.double.filter((t) => t.includes('{pos2}') && (t.includes('{bg}') || t.includes('{bgcolor}'))));
  const [o1, o2] = objects;
  const prompt = template
    .replace('{obj2}', objectPhrase(rand, o2.color, o2.shape, o2.size))
    .replace('{obj}', objectPhrase(rand, o1.color, o1.shape, o1.size))
    .replace('{pos2}', pick(rand, GRAMMAR.positions[o2.position]!.words))
    .replace('{pos}', pick(rand, GRAMMAR.positions[o1.position]!.words))
    .replace('{bg}', pick(rand, GRAMMAR.background))
    .replaceAll('{bg}', background)
    .replaceAll('{bgcolor}', background);
  return { prompt, background, objects };
}

/** The scene a PromptSpec describes, with the trainer's sizes and jitter. */
export function sceneFor(spec: Omit<PromptSpec, 'prompt'>, rand: () => number): Scene {
  const [lo, hi] = GRAMMAR.sizes[spec.size]!.radius;
  const [ax, ay] = GRAMMAR.positions[spec.position]!.at;
  const j = GRAMMAR.jitter;
  return {
    bg: spec.background,
    objects: [{ shape: spec.shape, color: spec.color, r: lo + (hi - lo) * rand(), x: ax + j * (2 * rand() - 1), y: ay + j * (2 * rand() - 1) }],
  };
}

type Pt = [number, number];

function polygon(points: number, outer: number, inner?: number): Pt[] {
  const pts: Pt[] = [];
  const n = inner === undefined ? points : 2 * points;
  for (let k = 0; k < n; k++) {
    const a = -Math.PI / 2 + (2 * Math.PI * k) / n;
    const rad = inner === undefined || k % 2 === 0 ? outer : inner;
    pts.push([rad * Math.cos(a), rad * Math.sin(a)]);
  }
  return pts;
}

function sdfPolygon(px: number, py: number, pts: readonly Pt[]): number {
  let d = Infinity;
  let inside = false;
  for (let i = 0; i < pts.length; i++) {
    const [ax, ay] = pts[i]!;
    const [bx, by] = pts[(i + 1) % pts.length]!;
    const ex = bx - ax;
    const ey = by - ay;
    const wx = px - ax;
    const wy = py - ay;
    const t = Math.min(1, Math.max(0, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
    const dx = wx - ex * t;
    const dy = wy - ey * t;
    d = Math.min(d, dx * dx + dy * dy);
    if (py >= ay !== py >= by && px < ((bx - ax) * (py - ay)) / (by - ay + 1e-12) + ax) inside = !inside;
  }
  d = Math.sqrt(d);
  return inside ? -d : d;
}

/** Signed distance in pixels from a point (relative to the shape's center) to the shape of radius r. */
export function shapeSdf(shape: string, px: number, py: number, r: number): number {
  switch (shape) {
    case 'circle':
      return Math.hypot(px, py) - r;
    case 'square': {
      const s = 0.86 * r;
      const qx = Math.abs(px) - s;
      const qy = Math.abs(py) - s;
      return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0);
    }
    case 'triangle':
      return sdfPolygon(px, py + 0.12 * r, polygon(3, 1.22 * r));
    case 'star':
      return sdfPolygon(px, py, polygon(5, 1.2 * r, 0.5 * r));
    case 'ring':
      return Math.abs(Math.hypot(px, py) - 0.72 * r) - 0.28 * r;
    default:
      throw new Error(`unknown shape ${shape}`);
  }
}

/** Draws a scene: interleaved RGB bytes, size x size. */
export function renderScene(scene: Scene, size: number): Uint8Array {
  const n = size * size;
  const img = new Float32Array(3 * n);
  const bg = GRAMMAR.colors[scene.bg]!;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) img[3 * i + c] = bg[c]!;
  for (const o of scene.objects) {
    const col = GRAMMAR.colors[o.color]!;
    const cx = o.x * size;
    const cy = o.y * size;
    const r = o.r * size;
    const reach = 1.3 * r + 2;
    const y0 = Math.max(0, Math.floor(cy - reach));
    const y1 = Math.min(size - 1, Math.ceil(cy + reach));
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(size - 1, Math.ceil(cx + reach));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const cov = Math.min(1, Math.max(0, 0.5 - shapeSdf(o.shape, x + 0.5 - cx, y + 0.5 - cy, r)));
        if (cov === 0) continue;
        const i = y * size + x;
        for (let c = 0; c < 3; c++) img[3 * i + c] = img[3 * i + c]! * (1 - cov) + col[c]! * cov;
      }
    }
  }
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < 3 * n; i++) out[i] = Math.min(255, Math.max(0, Math.round(img[i]!)));
  return out;
}
