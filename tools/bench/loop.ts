/**
 * The device loop against the per-step loop, in one process on one model folder (issue 17): the same
 * requests through a model loaded with DARKROOM_DEVICE_LOOP's "off" (every step's latents, UNet output
 * and step on the host) and "on" (the whole loop in an ONNX Loop graph, K steps per call:
 * src/engine/pipelines/device-loop.ts), runs alternating between the two, each figure printed with
 * the ratio device loop / per step, and the largest pixel difference between their pictures.
 *
 *   node --import tsx tools/bench/loop.ts --model <model folder> [--provider cuda] [--images 1,8]
 *     [--size 512] [--steps 20] [--scheduler euler] [--runs 3] [--per-call 5] [--fuse] [--json out.json]
 *
 * --fuse loads both through the engine's attention-fused twins (what DARKROOM_OPTIMIZE_MODELS gives
 * with CUDA); above 8 images the requests meet in one batch through the worker's batching (batched.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { MAX_OUTPUTS } from '../../src/engine/pipelines/check-request.ts';
import { generate } from '../../src/engine/pipelines/generate.ts';
import type { GeneratedImage } from '../../src/engine/pipelines/request.ts';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../../src/engine/runtime/session.ts';
import { isSchedulerName, type SchedulerName } from '../../src/engine/schedulers/index.ts';
import { generateBatched } from './batched.ts';
import { machineInfo, timing, type Timing } from './measure.ts';
import { benchRequest } from './request.ts';

export interface LoopBenchOptions {
  model: string;
  provider: ExecutionProvider;
  images: number[];
  size: number;
  steps: number;
  scheduler: SchedulerName;
  guidance: number;
  runs: number;
  perCall: number;
  fuse: boolean;
  log: (m: string) => void;
}

export interface LoopBenchRow {
  images: number;
  perStep: Timing;
  deviceLoop: Timing;
  /** Device loop time / per-step time (below 1: the device loop is faster). */
  ratio: number;
  /** Largest difference between the two loops' pixels (values in [-1, 1]). */
  maxPixelDiff: number;
}

async function images(model: LoadedModel, o: LoopBenchOptions, n: number): Promise<GeneratedImage[]> {
  if (n <= MAX_OUTPUTS) return generate(model, benchRequest(o, n), { progressEvery: o.perCall });
  const { images: out, batches } = await generateBatched(model, benchRequest(o, Math.min(n, MAX_OUTPUTS)), n);
  if (batches.length !== 1) throw new Error(`${n} images ran as batches of ${batches.join(', ')}, not one`);
  return out.flat();
}

function maxDiff(a: GeneratedImage[], b: GeneratedImage[]): number {
  let m = 0;
  a.forEach((img, k) => img.pixels.forEach((v, i) => (m = Math.max(m, Math.abs(v - b[k]!.pixels[i]!)))));
  return m;
}

export async function loopBench(o: LoopBenchOptions): Promise<{ loadMs: { perStep: number; deviceLoop: number }; rows: LoopBenchRow[] }> {
  const info = await readModelFolder(o.model);
  const load = async (deviceLoop: 'on' | 'off') => {
    const t0 = performance.now();
    const model = await LoadedModel.load(info, { provider: o.provider, deviceLoop, optimize: o.fuse ? { fuse: true } : {}, log: o.log });
    return { model, ms: Math.round(performance.now() - t0) };
  };
  const perStep = await load('off');
  const deviceLoop = await load('on');
  const rows: LoopBenchRow[] = [];
  try {
    for (const n of o.images) {
      // The first runs make the loop graph's twin and session and warm both up; then the two alternate.
      const [a, b] = [await images(perStep.model, o, n), await images(deviceLoop.model, o, n)];
      const samples = { perStep: [] as number[], deviceLoop: [] as number[] };
      for (let r = 0; r < o.runs; r++) {
        for (const [key, model] of [['perStep', perStep.model], ['deviceLoop', deviceLoop.model]] as const) {
          const t0 = performance.now();
          await images(model, o, n);
          samples[key].push(performance.now() - t0);
        }
      }
      const row = { images: n, perStep: timing(samples.perStep), deviceLoop: timing(samples.deviceLoop), ratio: 0, maxPixelDiff: maxDiff(b, a) };
      row.ratio = Math.round((row.deviceLoop.medianMs / row.perStep.medianMs) * 1000) / 1000;
      rows.push(row);
      o.log(`${n} image(s): per step ${row.perStep.medianMs} ms, device loop ${row.deviceLoop.medianMs} ms, ratio ${row.ratio}, max pixel difference ${row.maxPixelDiff}`);
    }
  } finally {
    await Promise.all([perStep.model.dispose(), deviceLoop.model.dispose()]);
  }
  return { loadMs: { perStep: perStep.ms, deviceLoop: deviceLoop.ms }, rows };
}

function list(value: string, what: string): number[] {
  const items = value.split(',').map(Number);
  if (items.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${what}: positive integers, comma-separated`);
  return items;
}

async function main(argv: string[]): Promise<void> {
  const flags: Record<string, string> = {};
  let fuse = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fuse') fuse = true;
    else if (a.startsWith('--')) flags[a.slice(2)] = argv[++i] ?? '';
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!flags['model']) throw new Error('--model <model folder> is required');
  const provider = (flags['provider'] ?? 'cpu') as ExecutionProvider;
  if (!EXECUTION_PROVIDERS.includes(provider)) throw new Error(`--provider ${provider} (choose from ${EXECUTION_PROVIDERS.join(', ')})`);
  const scheduler = flags['scheduler'] ?? 'euler';
  if (!isSchedulerName(scheduler)) throw new Error(`--scheduler ${scheduler}: not a scheduler`);
  const o: LoopBenchOptions = {
    model: resolve(flags['model']),
    provider,
    images: list(flags['images'] ?? '1,8', '--images'),
    size: list(flags['size'] ?? '512', '--size')[0]!,
    steps: list(flags['steps'] ?? '20', '--steps')[0]!,
    scheduler,
    guidance: Number(flags['guidance'] ?? 7.5),
    runs: list(flags['runs'] ?? '3', '--runs')[0]!,
    perCall: list(flags['per-call'] ?? '5', '--per-call')[0]!,
    fuse,
    log: (m) => process.stderr.write(`loop bench: ${m}\n`),
  };
  const result = await loopBench(o);
  const lines = [
    `device loop vs per-step loop: ${o.provider}, ${o.size}x${o.size}, ${o.steps} steps of ${o.scheduler}, guidance ${o.guidance}, ${o.perCall} steps per device-loop call${o.fuse ? ', fused attention' : ''}`,
    `load ms: per step ${result.loadMs.perStep}, device loop ${result.loadMs.deviceLoop} (its graph is made and loaded on the first run)`,
    '| images | per step ms | device loop ms | device loop / per step | img/s per step | img/s device loop | max pixel diff |',
    '|---|---|---|---|---|---|---|',
    ...result.rows.map((r) =>
      `| ${r.images} | ${r.perStep.medianMs.toFixed(1)} | ${r.deviceLoop.medianMs.toFixed(1)} | ${r.ratio.toFixed(3)} | ${((r.images * 1000) / r.perStep.medianMs).toFixed(2)} | ${((r.images * 1000) / r.deviceLoop.medianMs).toFixed(2)} | ${r.maxPixelDiff.toExponential(1)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (flags['json']) {
    const file = resolve(flags['json']);
    await mkdir(dirname(file), { recursive: true });
    const { model: _model, log: _log, ...options } = o;
    await writeFile(file, `${JSON.stringify({ tool: 'darkroom loop bench', date: new Date().toISOString(), machine: machineInfo(), model: o.model, options, ...result }, null, 2)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`loop bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
