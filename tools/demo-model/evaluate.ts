/**
 * Proves the demo model draws what it is asked: generates images for prompts drawn at random (seeded)
 * from the caption grammar, through the real Engine, and scores each with the synthetic-domain detector
 * (detector.ts) for object color, background color, shape and position.
 *
 *   node --import tsx tools/demo-model/evaluate.ts [--n 64] [--seed 1] [--model models/darkroom-demo]
 *     [--steps N] [--scheduler NAME] [--guidance G] [--threads T] [--sheet docs/demo-contact-sheet.png]
 *     [--save DIR] [--floor 0.8,0.8,0.6,0.6] [--pairs N]
 *
 * Settings left out are the model's defaults (darkroom.json). Prints one line per sample, the accuracy
 * per attribute and a final JSON line; exits 1 when an accuracy is under its floor
 * (color, background, shape, position; default 0.8, 0.8, 0.6, 0.6). --pairs N also draws N two-object
 * prompts ("a red circle on the left and a blue star on the right on white") and reports how often
 * both colors, both shapes, their order and the background come out (no floor).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Engine } from '../../src/engine/engine.ts';
import { chwToRgb, contactSheet, encodeImage } from '../../src/engine/image.ts';
import type { SchedulerName } from '../../src/engine/schedulers/index.ts';
import { detect, detectAll, type Detection, type RegionReading } from './detector.ts';
import { prng, samplePairPrompt, samplePrompt, type PairSpec, type PromptSpec } from './scenes.ts';

export const DEMO_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'darkroom-demo');
export const ATTRIBUTES = ['color', 'background', 'shape', 'position'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
export const CI_FLOOR: Record<Attribute, number> = { color: 0.8, background: 0.8, shape: 0.6, position: 0.6 };

export interface EvaluateOptions {
  n: number;
  seed: number;
  model?: string;
  steps?: number;
  scheduler?: SchedulerName;
  guidance?: number;
  width?: number;
  height?: number;
  threads?: number;
  /** Writes a contact sheet of the first 16 samples (PNG). */
  sheet?: string;
  /** Writes every sample as a PNG into this folder. */
  save?: string;
  /** Two-object prompts to draw and score as well. */
  pairs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  spec: PromptSpec;
  seed: number;
  detection: Detection;
  correct: Record<Attribute, boolean>;
}

export interface EvaluationResult {
  n: number;
  accuracy: Record<Attribute, number>;
  /** Share of images with exactly one object, as asked (reported, no floor). */
  singleObject: number;
  samples: Sample[];
  /** Two-object prompts (when asked for): share with both colors found, both shapes right, right order, right background, exactly two objects. */
  pairs?: { n: number; colors: number; shapes: number; order: number; background: number; twoObjects: number };
  settings: { steps: number; scheduler: string; guidance: number; width: number; height: number };
  msPerImage: number;
}

export async function evaluate(opts: EvaluateOptions): Promise<EvaluationResult> {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: opts.threads });
  const rand = prng(opts.seed);
  const samples: Sample[] = [];
  const pngs: { png: Buffer }[] = [];
  let settings: EvaluationResult['settings'] | undefined;
  let ms = 0;
  if (opts.save) await mkdir(opts.save, { recursive: true });
  try {
    for (let k = 0; k < opts.n; k++) {
      const spec = samplePrompt(rand);
      const seed = Math.floor(rand() * 2 ** 32);
      const t0 = performance.now();
      const { request, images } = await engine.generate(opts.model ?? DEMO_MODEL_DIR, {
        prompt: spec.prompt,
        seed,
        steps: opts.steps,
        scheduler: opts.scheduler,
        guidance: opts.guidance,
        width: opts.width,
        height: opts.height,
      });
      ms += performance.now() - t0;
      settings ??= { steps: request.steps, scheduler: request.scheduler, guidance: request.guidance, width: request.width, height: request.height };
      const img = images[0]!;
      const detection = detect(chwToRgb(img.pixels, img.width, img.height), img.width, img.height);
      const correct = {
        color: detection.color === spec.color,
        background: detection.background === spec.background,
        shape: detection.shape === spec.shape,
        position: detection.position === spec.position,
      };
      samples.push({ spec, seed, detection, correct });
      const marks = ATTRIBUTES.map((a) => (correct[a] ? '+' : '-')).join('');
      const seen = `${detection.color ?? '?'} ${detection.shape ?? '?'} ${detection.position ?? '?'} on ${detection.background}`;
      opts.log?.(`${String(k + 1).padStart(4)} ${marks} "${spec.prompt}" (seed ${seed}) → ${seen}`);
      if (opts.sheet && k < 16) pngs.push({ png: await encodeImage(img.pixels, img.width, img.height, 'png') });
      if (opts.save) await writeFile(join(opts.save, `${String(k + 1).padStart(4, '0')}.png`), await encodeImage(img.pixels, img.width, img.height, 'png'));
    }
  } finally {
    await engine.dispose();
  }
  if (opts.sheet && pngs.length) {
    await mkdir(dirname(resolve(opts.sheet)), { recursive: true });
    await writeFile(opts.sheet, await contactSheet(pngs, 4));
  }
  const accuracy = Object.fromEntries(ATTRIBUTES.map((a) => [a, samples.filter((s) => s.correct[a]).length / Math.max(1, samples.length)])) as Record<Attribute, number>;
  const singleObject = samples.filter((s) => s.detection.objects === 1).length / Math.max(1, samples.length);
  const pairs = opts.pairs ? await evaluatePairs(opts, opts.pairs) : undefined;
  return { n: samples.length, accuracy, singleObject, pairs, samples, settings: settings!, msPerImage: ms / Math.max(1, samples.length) };
}

/** Is `a` where the pair put it relative to `b` (left of, above...)? */
function inOrder(position: string, a: RegionReading, b: RegionReading): boolean {
  switch (position) {
    case 'left': return a.cx < b.cx;
    case 'right': return a.cx > b.cx;
    case 'top': return a.cy < b.cy;
    default: return a.cy > b.cy;
  }
}

async function evaluatePairs(opts: EvaluateOptions, n: number): Promise<NonNullable<EvaluationResult['pairs']>> {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: opts.threads });
  const rand = prng(opts.seed + 1);
  const tally = { colors: 0, shapes: 0, order: 0, background: 0, twoObjects: 0 };
  try {
    for (let k = 0; k < n; k++) {
      const spec: PairSpec = samplePairPrompt(rand);
      const seed = Math.floor(rand() * 2 ** 32);
      const { images } = await engine.generate(opts.model ?? DEMO_MODEL_DIR, {
        prompt: spec.prompt, seed, steps: opts.steps, scheduler: opts.scheduler, guidance: opts.guidance, width: opts.width, height: opts.height,
      });
      const img = images[0]!;
      const seen = detectAll(chwToRgb(img.pixels, img.width, img.height), img.width, img.height);
      // Each asked object is the largest region of its color.
      const [a, b] = spec.objects.map((o) => seen.objects.find((r) => r.color === o.color));
      const colors = !!a && !!b;
      const shapes = colors && a.shape === spec.objects[0].shape && b.shape === spec.objects[1].shape;
      const order = colors && inOrder(spec.objects[0].position, a, b);
      const marks = [colors, shapes, order, seen.background === spec.background].map((m) => (m ? '+' : '-')).join('');
      tally.colors += +colors;
      tally.shapes += +shapes;
      tally.order += +order;
      tally.background += +(seen.background === spec.background);
      tally.twoObjects += +(seen.objects.length === 2);
      const read = seen.objects.slice(0, 3).map((r) => `${r.color ?? '?'} ${r.shape}`).join(', ');
      opts.log?.(`pair ${String(k + 1).padStart(3)} ${marks} "${spec.prompt}" (seed ${seed}) → ${read} on ${seen.background}`);
    }
  } finally {
    await engine.dispose();
  }
  const share = (x: number) => x / Math.max(1, n);
  return { n, colors: share(tally.colors), shapes: share(tally.shapes), order: share(tally.order), background: share(tally.background), twoObjects: share(tally.twoObjects) };
}

function parseArgs(argv: string[]): EvaluateOptions & { floor: Record<Attribute, number> } {
  const opts: EvaluateOptions & { floor: Record<Attribute, number> } = { n: 64, seed: 1, floor: { ...CI_FLOOR } };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${key} needs a value`);
    const num = () => {
      const v = Number(value);
      if (!Number.isFinite(v)) throw new Error(`${key} must be a number, got ${value}`);
      return v;
    };
    switch (key) {
      case '--n': opts.n = num(); break;
      case '--seed': opts.seed = num(); break;
      case '--model': opts.model = value; break;
      case '--steps': opts.steps = num(); break;
      case '--scheduler': opts.scheduler = value as SchedulerName; break;
      case '--guidance': opts.guidance = num(); break;
      case '--width': opts.width = num(); break;
      case '--height': opts.height = num(); break;
      case '--threads': opts.threads = num(); break;
      case '--sheet': opts.sheet = value; break;
      case '--save': opts.save = value; break;
      case '--pairs': opts.pairs = num(); break;
      case '--floor': {
        const parts = value.split(',').map(Number);
        if (parts.length !== 4 || parts.some((p) => !Number.isFinite(p))) throw new Error('--floor takes four numbers: color,background,shape,position');
        ATTRIBUTES.forEach((a, j) => (opts.floor[a] = parts[j]!));
        break;
      }
      default:
        throw new Error(`unknown option ${key}`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const result = await evaluate({ ...opts, log: (l) => console.log(l) });
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`\n${result.n} samples, ${result.settings.width}x${result.settings.height}, ${result.settings.steps} steps, ${result.settings.scheduler}, guidance ${result.settings.guidance}, ${result.msPerImage.toFixed(0)} ms/image`);
  for (const a of ATTRIBUTES) console.log(`${a.padEnd(11)} ${pct(result.accuracy[a]).padStart(6)}   (floor ${pct(opts.floor[a])})`);
  console.log(`${'one object'.padEnd(11)} ${pct(result.singleObject).padStart(6)}   (images with exactly one object, as asked; no floor)`);
  if (result.pairs) {
    const p = result.pairs;
    console.log(`\n${p.n} two-object prompts: both colors ${pct(p.colors)}, both shapes ${pct(p.shapes)}, order ${pct(p.order)}, background ${pct(p.background)}, exactly two objects ${pct(p.twoObjects)} (no floor)`);
  }
  console.log(JSON.stringify({ n: result.n, seed: opts.seed, ...result.settings, accuracy: result.accuracy, singleObject: result.singleObject, pairs: result.pairs, msPerImage: Math.round(result.msPerImage) }));
  const failed = ATTRIBUTES.filter((a) => result.accuracy[a] < opts.floor[a]);
  if (failed.length) {
    console.error(`under the floor: ${failed.join(', ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
