/**
 * `darkroom bench`: builds (or reuses) a Stable Diffusion-shaped model with random weights and
 * times it in the engine, for each execution provider and optimisation set asked for:
 *
 *   - UNet forward per batch size: through the engine's session (host inputs converted to the
 *     model's dtype on every call, as the denoising loop does) and with prepared inputs (converted
 *     once, output left where ONNX Runtime put it): the difference is the per-call host overhead;
 *   - end to end, one image: prompt + negative prompt through the text encoder(s), `steps` UNet
 *     calls with classifier-free guidance, the scheduler, the VAE decode (with a breakdown);
 *   - throughput: n images per UNet call (UNet batch 2n with guidance), images per second: one request
 *     while n is within the engine's per-request limit, above it requests of at most that many
 *     joined into one batch by the worker's dynamic batching (tools/bench/batched.ts);
 *   - peak memory per phase (process max RSS on CPU; nvidia-smi on NVIDIA GPUs).
 *
 * Prints tables and writes the whole report as JSON (same fields as tools/bench/torch_reference.py).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoadedModel, type LoadOptions } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { FUSIONS, fusionsFor } from '../../src/engine/models/fuse-names.ts';
import { optimizeModel, type OptimizeSteps } from '../../src/engine/models/optimized.ts';
import { generate } from '../../src/engine/pipelines/generate.ts';
import { EXECUTION_PROVIDERS, OnnxSession, type ExecutionProvider, type Feed, type SessionTuning, type SessionValue } from '../../src/engine/runtime/session.ts';
import { SCHEDULER_NAMES, type SchedulerName } from '../../src/engine/schedulers/index.ts';
import { BENCH_SHAPES, isBenchShape, OPT_SETS, SHAPES, type BenchShapeName, type OptSet } from './configs.ts';
import { generateBatched, splitRequests } from './batched.ts';
import { deriveModelFolder, fixedShapeFolder, fixShapes, fusedFolder } from './derive.ts';
import { BENCH_INFO_FILE, DEFAULT_BENCH_MODELS_DIR, DTYPES, ensureBenchModel, type BenchModelInfo, type Dtype } from './make.ts';
import { machineInfo, MemorySampler, timeRuns, timing, type MachineInfo, type MemoryReading, type Timing } from './measure.ts';
import { benchRequest } from './request.ts';

export const OPT_DESCRIPTIONS: Record<OptSet, string> = {
  none: 'graph optimisations disabled',
  basic: "graphOptimizationLevel 'basic' (constant folding, redundant node removal)",
  'ort-all': "graphOptimizationLevel 'all' (Darkroom's default: + fusions, layout optimisations)",
  'ort-cached': "the graphs ONNX Runtime optimised at level 'all', saved on disk and loaded with optimisations off",
  fixed: "level 'all' on fixed-shape copies of the models (batch, height, width written into the graph)",
  fused: "level 'all' on copies whose attention is fused into com.microsoft.MultiHeadAttention (src/engine/models/fuse-attention.ts)",
  'fused-fixed': 'fused, and fixed shapes',
  'fused-all': "level 'all' on the engine's fused twins with every fusion the provider has kernels for (DARKROOM_FUSIONS=all: attention, skip-layer-norm; on cuda also packed-qkv, group-norm, bias-split-gelu, bias-add)",
  fp16: "level 'all' on the engine's float16 twins (src/engine/models/half-precision.ts; what DARKROOM_FP16 loads; a float16 build has nothing to convert)",
  'fused-fp16': "level 'all' on the engine's fused, then float16 twins: what DARKROOM_OPTIMIZE_MODELS + DARKROOM_FP16 load (the default with cuda)",
  nhwc: "WebGPU only: level 'all' with the provider's preferredLayout NHWC",
};

export interface BenchOptions {
  shape: BenchShapeName;
  dtype: Dtype;
  providers: ExecutionProvider[];
  opts: OptSet[];
  /** UNet forward batch sizes. */
  batches: number[];
  /** Images per request for the throughput sweep. */
  images: number[];
  size: number;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  warmup: number;
  runs: number;
  e2eRuns: number;
  /** ONNX Runtime intra-op threads (0 = its choice). */
  threads: number;
  modelsDir: string;
  /** An existing model folder to time instead of a built one. */
  modelDir?: string;
  skipEndToEnd?: boolean;
  /** Write each entry's UNet output for fixed inputs (batch 2, latents of `size`) here: the reference of a later run's `compareUnetOutput`. */
  saveUnetOutput?: string;
  /** Compare each entry's UNet output for those inputs with the one saved here (a fusion set's numbers against attention alone's, on the GPU). */
  compareUnetOutput?: string;
  log?: (message: string) => void;
  command?: string;
}

export interface UnetTiming extends Timing, MemoryReading {
  batch: number;
  /** The same forward with inputs converted once and the output left in place. */
  prepared: Timing;
}

export interface EndToEnd extends Timing, MemoryReading {
  images: number;
  /** Median milliseconds per image spent in each part (sums of session runs; other = scheduler, conversions, JS). */
  breakdown: { textEncoderMs: number; unetMs: number; unetCalls: number; vaeMs: number; otherMs: number };
}

export interface Throughput extends Timing, MemoryReading {
  /** Images per UNet call. */
  images: number;
  /** Requests they came in: 1, or more joined by the worker's batching when images exceed one request's limit. */
  requests: number;
  imagesPerSecond: number;
}

export interface RunEntry {
  runtime: 'darkroom';
  provider: ExecutionProvider;
  opt: OptSet;
  label: string;
  description: string;
  loadMs?: number;
  /** ort-cached, fp16, fused-fp16: time to optimise and write the cached graphs (first run only; about 0 when reused). */
  cacheBuildMs?: number;
  unet: UnetTiming[];
  endToEnd?: EndToEnd;
  throughput: Throughput[];
  /** With compareUnetOutput: the largest difference from the reference output, relative to its largest value, and whether every value is finite. */
  unetParity?: { reference: string; maxRelDiff: number; finite: boolean };
  errors: string[];
}

export interface BenchReport {
  tool: 'darkroom-bench';
  version: 1;
  date: string;
  command: string;
  machine: MachineInfo;
  shape: string;
  dtype: Dtype;
  size: number;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  modelDir: string;
  params: Record<string, number>;
  runs: RunEntry[];
}

export function defaultOptions(shape: BenchShapeName, providers: ExecutionProvider[] = ['cpu']): BenchOptions {
  const gpu = providers.some((p) => p !== 'cpu');
  const small = shape === 'mini' || shape === 'mini-xl';
  return {
    shape,
    dtype: gpu ? 'fp16' : 'fp32',
    providers,
    opts: ['ort-all'],
    batches: small ? [1, 2, 4] : gpu ? [1, 2, 4, 8, 16] : [1, 2],
    images: small ? [1, 2, 4] : gpu ? [1, 4, 8, 16] : [1],
    size: SHAPES[shape].size,
    steps: 20,
    guidance: 7.5,
    scheduler: 'euler',
    warmup: small ? 2 : 3,
    runs: small ? 10 : 10,
    e2eRuns: 3,
    threads: 0,
    modelsDir: DEFAULT_BENCH_MODELS_DIR,
  };
}

function tuningFor(opt: OptSet, provider: ExecutionProvider): SessionTuning | undefined {
  switch (opt) {
    case 'none':
      return { graphOptimizationLevel: 'disabled' };
    case 'basic':
      return { graphOptimizationLevel: 'basic' };
    case 'ort-cached':
      return { graphOptimizationLevel: 'disabled' };
    case 'nhwc':
      return provider === 'webgpu' ? { webgpu: { preferredLayout: 'NHWC' } } : undefined;
    default:
      return undefined;
  }
}

const wave = (n: number, phase: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i * 0.7071 + phase));

/** Feeds for one UNet forward at `batch`, from what the session declares. */
export function unetFeeds(session: OnnxSession, batch: number, h: number, w: number): Record<string, Feed> {
  const dim = (name: string, i: number, fallback: number) => {
    const d = session.input(name)?.shape[i];
    return typeof d === 'number' ? d : fallback;
  };
  const feeds: Record<string, Feed> = {};
  const c = dim('sample', 1, 4);
  feeds['sample'] = { data: wave(batch * c * h * w, 0), dims: [batch, c, h, w] };
  const ts = session.input('timestep')?.shape ?? ['batch'];
  feeds['timestep'] = ts.length === 0 ? { data: [500], dims: [] } : ts[0] === 1 ? { data: [500], dims: [1] } : { data: new Array<number>(batch).fill(500), dims: [batch] };
  const tokens = dim('encoder_hidden_states', 1, 77);
  const ctx = dim('encoder_hidden_states', 2, 768);
  feeds['encoder_hidden_states'] = { data: wave(batch * tokens * ctx, 1), dims: [batch, tokens, ctx] };
  if (session.hasInput('text_embeds')) {
    const d = dim('text_embeds', 1, 1280);
    feeds['text_embeds'] = { data: wave(batch * d, 2), dims: [batch, d] };
  }
  if (session.hasInput('time_ids')) {
    const px = [8 * h, 8 * w, 0, 0, 8 * h, 8 * w];
    feeds['time_ids'] = { data: Array.from({ length: batch * 6 }, (_, i) => px[i % 6]!), dims: [batch, 6] };
  }
  if (session.hasInput('timestep_cond')) {
    const d = dim('timestep_cond', 1, 256);
    feeds['timestep_cond'] = { data: wave(batch * d, 3), dims: [batch, d] };
  }
  return feeds;
}

async function timeUnet(session: OnnxSession, batch: number, size: number, o: BenchOptions): Promise<{ host: Timing; prepared: Timing }> {
  const feeds = unetFeeds(session, batch, size / 8, size / 8);
  const host = timing(await timeRuns(() => session.run(feeds), o.warmup, o.runs));
  const prepared: Record<string, SessionValue> = {};
  for (const [name, feed] of Object.entries(feeds)) prepared[name] = session.prepare(name, feed);
  const output = session.outputs[0]!.name;
  try {
    const samples = await timeRuns(
      async () => {
        const { kept } = await session.runKeeping(prepared, [output], [output]);
        for (const v of Object.values(kept)) v.dispose();
      },
      o.warmup,
      o.runs,
    );
    return { host, prepared: timing(samples) };
  } finally {
    for (const v of Object.values(prepared)) v.dispose();
  }
}


/** Wraps the model's sessions' runKeeping() (which run() goes through too) to add up the time spent in each, per generation. */
function instrument(model: LoadedModel) {
  const totals = { textEncoderMs: 0, unetMs: 0, unetCalls: 0, vaeMs: 0 };
  const restore: (() => void)[] = [];
  const wrap = (s: OnnxSession | undefined, add: (ms: number) => void) => {
    if (!s) return;
    const original = s.runKeeping;
    s.runKeeping = async (feeds, names, keep) => {
      const t0 = performance.now();
      try {
        return await original.call(s, feeds, names, keep);
      } finally {
        add(performance.now() - t0);
      }
    };
    restore.push(() => {
      s.runKeeping = original;
    });
  };
  wrap(model.textEncoder, (ms) => (totals.textEncoderMs += ms));
  wrap(model.textEncoder2, (ms) => (totals.textEncoderMs += ms));
  wrap(model.unet, (ms) => {
    totals.unetMs += ms;
    totals.unetCalls++;
  });
  wrap(model.vaeDecoder, (ms) => (totals.vaeMs += ms));
  return {
    take: () => {
      const t = { ...totals };
      totals.textEncoderMs = totals.unetMs = totals.vaeMs = totals.unetCalls = 0;
      return t;
    },
    restore: () => restore.forEach((r) => r()),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Saves and/or compares the UNet's output for fixed inputs (see BenchOptions.saveUnetOutput). */
async function unetParity(session: OnnxSession, o: BenchOptions): Promise<RunEntry['unetParity']> {
  const lat = o.size / 8;
  const out = Object.values(await session.run(unetFeeds(session, 2, lat, lat)))[0]!.data;
  if (o.saveUnetOutput) {
    await mkdir(dirname(o.saveUnetOutput), { recursive: true });
    await writeFile(o.saveUnetOutput, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  }
  if (!o.compareUnetOutput) return undefined;
  const bytes = await readFile(o.compareUnetOutput);
  const ref = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (ref.length !== out.length) throw new Error(`${o.compareUnetOutput}: ${ref.length} values, the UNet gave ${out.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < out.length; i++) {
    diff = Math.max(diff, Math.abs(out[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return { reference: o.compareUnetOutput, maxRelDiff: diff / scale, finite: out.every(Number.isFinite) };
}

/** The opt sets that are the engine's own install-time rewrites (src/engine/models/optimized.ts), as they apply on `provider`. */
function engineSteps(opt: OptSet, provider: ExecutionProvider): OptimizeSteps | undefined {
  switch (opt) {
    case 'fp16':
      return { fp16: true };
    case 'fused-fp16':
      return { fuse: true, fp16: true };
    case 'fused-all':
      return { fuse: true, fusions: fusionsFor(provider, FUSIONS) };
    default:
      return undefined;
  }
}

async function loadModel(
  dir: string,
  provider: ExecutionProvider,
  o: BenchOptions,
  tuning: SessionTuning | undefined,
  onFallback: (m: string) => void,
  optimize?: OptimizeSteps,
) {
  // The engine's own loading, with per-session tuning passed through to OnnxSession.load; the per-step loop,
  // which every set times (the device loop is timed against it by tools/bench/loop.ts).
  const options: LoadOptions & { tuning?: SessionTuning } = { provider, threads: o.threads, onFallback, tuning, deviceLoop: 'off', ...(optimize ? { optimize } : {}) };
  const t0 = performance.now();
  const model = await LoadedModel.load(await readModelFolder(dir), options);
  return { model, loadMs: round1(performance.now() - t0) };
}

/** ort-cached: a folder whose components are the graphs ONNX Runtime optimised (level 'all') for `provider`. */
async function ortCacheFolder(dir: string, provider: ExecutionProvider, o: BenchOptions): Promise<{ dir: string; buildMs: number }> {
  const dst = `${dir}.ort-${provider}`;
  const t0 = performance.now();
  const components = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder'].filter((c) => existsSync(join(dir, c, 'model.onnx')));
  const replace: Record<string, (componentDir: string) => Promise<void>> = {};
  for (const c of components) {
    replace[c] = async (componentDir) => {
      const out = join(componentDir, 'model.onnx');
      const s = await OnnxSession.load(join(dir, c, 'model.onnx'), {
        provider,
        threads: o.threads,
        tuning: {
          optimizedModelFilePath: out,
          logSeverityLevel: 3, // not the warning that an 'all'-level graph is for this machine only: it is kept per provider, here
          configEntries: {
            'session.optimized_model_external_initializers_file_name': 'model.onnx_data',
            'session.optimized_model_external_initializers_min_size_in_bytes': '1024',
          },
        },
      });
      await s.dispose();
    };
  }
  const existed = existsSync(join(dst, 'darkroom.json'));
  await deriveModelFolder(dir, dst, replace);
  return { dir: dst, buildMs: existed ? 0 : round1(performance.now() - t0) };
}

/** fixed: a folder with batch/height/width written into the graphs, for `images` images per request. */
function fixedFolder(dir: string, o: BenchOptions, images: number): Promise<string> {
  const unetBatch = (o.guidance > 1 ? 2 : 1) * images;
  const lat = o.size / 8;
  const dims: Record<string, Record<string, number>> = {
    unet: { batch: unetBatch, height: lat, width: lat },
    vae_decoder: { batch: 1, height: lat, width: lat, image_height: o.size, image_width: o.size },
    text_encoder: { batch: 1 },
  };
  if (existsSync(join(dir, 'text_encoder_2'))) dims['text_encoder_2'] = { batch: 1 };
  return fixedShapeFolder(dir, `${dir}.fixed-${images}x${o.size}`, dims);
}

async function runEntry(dir: string, provider: ExecutionProvider, opt: OptSet, o: BenchOptions): Promise<RunEntry> {
  const log = o.log ?? (() => undefined);
  const label = `darkroom ${provider} ${opt}`;
  const entry: RunEntry = { runtime: 'darkroom', provider, opt, label, description: OPT_DESCRIPTIONS[opt], unet: [], throughput: [], errors: [] };
  if (opt === 'nhwc' && provider !== 'webgpu') {
    entry.errors.push('nhwc applies to the webgpu provider only');
    return entry;
  }
  const tuning = tuningFor(opt, provider);
  let fellBack: string | undefined;
  const onFallback = (m: string) => {
    fellBack ??= m;
  };
  const memory = MemorySampler.start(provider);
  const loaded: LoadedModel[] = [];
  try {
    // The folder the variants derive from: the model itself, or its attention-fused copy.
    const base = opt === 'fused' || opt === 'fused-fixed' ? (await fusedFolder(dir, `${dir}.fused`)).dir : dir;
    const fixed = opt === 'fixed' || opt === 'fused-fixed';
    let modelDir = base;
    if (opt === 'ort-cached') {
      const cache = await ortCacheFolder(dir, provider, o);
      modelDir = cache.dir;
      entry.cacheBuildMs = cache.buildMs;
    }
    if (fixed) modelDir = await fixedFolder(base, o, 1);
    const steps = engineSteps(opt, provider);
    if (steps) {
      // The engine makes its twins on first load; made here first, so that load time is load time.
      const t0 = performance.now();
      await optimizeModel(await readModelFolder(modelDir), steps);
      entry.cacheBuildMs = round1(performance.now() - t0);
    }
    const { model, loadMs } = await loadModel(modelDir, provider, o, tuning, onFallback, steps);
    loaded.push(model);
    entry.loadMs = loadMs;
    if (fellBack) throw new Error(`provider ${provider} is not available: ${fellBack}`);
    log(`${label}: loaded in ${loadMs} ms`);
    if (o.saveUnetOutput || o.compareUnetOutput) entry.unetParity = await unetParity(model.unet, o);

    // UNet forward per batch size.
    for (const batch of o.batches) {
      await memory.reset();
      let session = model.unet;
      let own: OnnxSession | undefined;
      if (fixed) {
        const lat = o.size / 8;
        const file = join(`${base}.fixed-unet`, `b${batch}-${lat}x${lat}`, 'model.onnx');
        if (!existsSync(file)) await fixShapes(join(base, 'unet', 'model.onnx'), file, { batch, height: lat, width: lat });
        own = session = await OnnxSession.load(file, { provider, threads: o.threads, tuning });
      }
      try {
        const t = await timeUnet(session, batch, o.size, o);
        await memory.settle();
        entry.unet.push({ batch, ...t.host, prepared: t.prepared, ...memory.read() });
        log(`${label}: UNet batch ${batch}: ${t.host.medianMs} ms (prepared inputs ${t.prepared.medianMs} ms)`);
      } finally {
        await own?.dispose();
      }
    }
    if (o.skipEndToEnd) return entry;

    // End to end, one image, with the time per part.
    await memory.reset();
    const probe = instrument(model);
    const parts: ReturnType<typeof probe.take>[] = [];
    try {
      await generate(model, benchRequest(o, 1));
      probe.take();
      const samples = await timeRuns(
        async () => {
          await generate(model, benchRequest(o, 1));
          parts.push(probe.take());
        },
        0,
        o.e2eRuns,
      );
      const t = timing(samples);
      const textEncoderMs = round1(median(parts.map((p) => p.textEncoderMs)));
      const unetMs = round1(median(parts.map((p) => p.unetMs)));
      const vaeMs = round1(median(parts.map((p) => p.vaeMs)));
      await memory.settle();
      entry.endToEnd = {
        images: 1,
        ...t,
        breakdown: { textEncoderMs, unetMs, unetCalls: parts[0]!.unetCalls, vaeMs, otherMs: round1(Math.max(0, t.medianMs - textEncoderMs - unetMs - vaeMs)) },
        ...memory.read(),
      };
      log(`${label}: end to end ${t.medianMs} ms (text ${textEncoderMs}, UNet ${unetMs} in ${parts[0]!.unetCalls} calls, VAE ${vaeMs})`);
    } finally {
      probe.restore();
    }

    // Throughput: n images per UNet call.
    for (const n of o.images) {
      await memory.reset();
      let m = model;
      if (fixed && n !== 1) {
        m = (await loadModel(await fixedFolder(base, o, n), provider, o, tuning, onFallback)).model;
        loaded.push(m);
      }
      const requests = splitRequests(n).length;
      const once = async () => {
        if (requests === 1) return void (await generate(m, benchRequest(o, n)));
        const { batches } = await generateBatched(m, benchRequest(o, 1), n);
        if (batches.length !== 1) throw new Error(`${n} images in ${requests} requests ran as batches of ${batches.join(', ')}, not one`);
      };
      const samples = await timeRuns(once, 1, o.e2eRuns);
      const t = timing(samples);
      await memory.settle();
      entry.throughput.push({ images: n, requests, ...t, imagesPerSecond: Math.round((n * 1000 * 1000) / t.medianMs) / 1000, ...memory.read() });
      log(`${label}: ${n} image(s) per UNet call (${requests} request(s)): ${((n * 1000) / t.medianMs).toFixed(2)} images/s`);
      if (m !== model) {
        await m.dispose();
        loaded.splice(loaded.indexOf(m), 1);
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    entry.errors.push(message.split('\n')[0]!);
    log(`${label}: ${message.split('\n')[0]}`);
  } finally {
    memory.stop();
    for (const m of loaded) await m.dispose();
  }
  return entry;
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.log ?? (() => undefined);
  if (o.size % SHAPES[o.shape].sizeMultiple !== 0) {
    throw new Error(`--size ${o.size}: the ${o.shape} UNet needs a multiple of ${SHAPES[o.shape].sizeMultiple}`);
  }
  const dir = o.modelDir ? resolve(o.modelDir) : (await ensureBenchModel(o.shape, o.dtype, o.modelsDir, log)).dir;
  let params: Record<string, number> = {};
  try {
    params = (JSON.parse(await readFile(join(dir, BENCH_INFO_FILE), 'utf8')) as BenchModelInfo).params;
  } catch {
    // a model folder from elsewhere: no bench.json
  }
  const report: BenchReport = {
    tool: 'darkroom-bench',
    version: 1,
    date: new Date().toISOString(),
    command: o.command ?? '',
    machine: machineInfo(),
    shape: o.modelDir ? basename(dir) : o.shape,
    dtype: o.dtype,
    size: o.size,
    steps: o.steps,
    guidance: o.guidance,
    scheduler: o.scheduler,
    modelDir: dir,
    params,
    runs: [],
  };
  for (const provider of o.providers) {
    for (const opt of o.opts) report.runs.push(await runEntry(dir, provider, opt, o));
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Tables

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '–' : x.toFixed(digits));

export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const lines = [
    `Darkroom bench: ${r.shape} ${r.dtype}, ${r.size}x${r.size}, ${r.steps} steps, guidance ${r.guidance}, ${r.scheduler}  (${r.date})`,
    `machine: ${m.cpu} (${m.cores} cores, ${m.memoryGB} GB)${m.gpu ? `, GPU ${m.gpu}` : ''}; node ${m.node}; onnxruntime-node ${m.onnxruntime}; load average ${m.loadAverage.join(' ')}`,
    '',
  ];
  const batches = [...new Set(r.runs.flatMap((e) => e.unet.map((u) => u.batch)))].sort((a, b) => a - b);
  if (batches.length) {
    lines.push('UNet forward, median ms: engine path (host inputs converted per call) / prepared inputs');
    const rows = [['provider', 'opt', 'load ms', ...batches.map((b) => `batch ${b}`)]];
    for (const e of r.runs) {
      rows.push([
        e.provider,
        e.opt,
        fmt(e.loadMs, 0),
        ...batches.map((b) => {
          const u = e.unet.find((x) => x.batch === b);
          return u ? `${fmt(u.medianMs, 2)} / ${fmt(u.prepared.medianMs, 2)}` : '–';
        }),
      ]);
    }
    lines.push(pad(rows), '');
  }
  for (const e of r.runs) {
    const p = e.unetParity;
    if (p) lines.push(`${e.label}: UNet output against ${basename(p.reference)}: max difference ${p.maxRelDiff.toExponential(2)} of its largest value${p.finite ? '' : ', NOT all finite'}`);
  }
  if (r.runs.some((e) => e.unetParity)) lines.push('');
  const images = [...new Set(r.runs.flatMap((e) => e.throughput.map((t) => t.images)))].sort((a, b) => a - b);
  if (r.runs.some((e) => e.endToEnd)) {
    lines.push(`End to end (1 image: text encoder + ${r.steps} UNet calls + VAE decode) and throughput`);
    const rows = [['provider', 'opt', 'image ms', 'p90', 'text', 'unet', 'vae', 'other', ...images.map((n) => `img/s @${n}`), 'peak MB']];
    for (const e of r.runs) {
      const x = e.endToEnd;
      const peak = Math.max(0, ...e.unet.map((u) => u.peakMemoryMB), x?.peakMemoryMB ?? 0, ...e.throughput.map((t) => t.peakMemoryMB));
      rows.push([
        e.provider,
        e.opt,
        fmt(x?.medianMs),
        fmt(x?.p90Ms),
        fmt(x?.breakdown.textEncoderMs),
        fmt(x?.breakdown.unetMs),
        fmt(x?.breakdown.vaeMs),
        fmt(x?.breakdown.otherMs),
        ...images.map((n) => fmt(e.throughput.find((t) => t.images === n)?.imagesPerSecond, 2)),
        peak ? fmt(peak, 0) : '–',
      ]);
    }
    lines.push(pad(rows));
    const src = r.runs.flatMap((e) => [...e.unet, ...e.throughput]).map((x) => x.memorySource)[0];
    if (src) lines.push(`peak memory: ${src}`);
    lines.push('');
  }
  for (const e of r.runs) for (const err of e.errors) lines.push(`! ${e.label}: ${err}`);
  return lines.join('\n').trimEnd() + '\n';
}

// ---------------------------------------------------------------------------------------------
// Command line (also `darkroom bench`, src/cli/bench.ts)

export function parseList<T extends string>(value: string, allowed: readonly T[], what: string): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((i) => !(allowed as readonly string[]).includes(i));
  if (bad.length || items.length === 0) throw new Error(`${what}: ${bad.join(', ') || '(empty)'} (choose from ${allowed.join(', ')})`);
  return items as T[];
}

export function parseNumbers(value: string, what: string): number[] {
  const items = value.split(',').map((s) => Number(s.trim()));
  if (items.length === 0 || items.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${what}: positive integers, comma-separated`);
  return items;
}

/** Options from command-line flags (commander's camelCase keys, string values), over the shape's defaults. */
export function optionsFromFlags(flags: Record<string, unknown>): BenchOptions {
  const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const shape = str('shape') ?? 'mini';
  if (!isBenchShape(shape)) throw new Error(`--shape ${shape} (choose from ${BENCH_SHAPES.join(', ')})`);
  const providers = parseList(str('providers') ?? 'cpu', EXECUTION_PROVIDERS, '--providers');
  const o = defaultOptions(shape, providers);
  const num = (k: string, min: number) => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v}: a number >= ${min}`);
    return n;
  };
  if (str('dtype')) o.dtype = parseList(str('dtype')!, DTYPES, '--dtype')[0]!;
  if (str('opt')) o.opts = parseList(str('opt')!, OPT_SETS, '--opt');
  if (str('batches')) o.batches = parseNumbers(str('batches')!, '--batches');
  if (str('images')) o.images = parseNumbers(str('images')!, '--images');
  if (str('scheduler')) o.scheduler = parseList(str('scheduler')!, SCHEDULER_NAMES, '--scheduler')[0]!;
  if (str('modelsDir')) o.modelsDir = resolve(str('modelsDir')!);
  if (str('model')) o.modelDir = resolve(str('model')!);
  o.size = num('size', 8) ?? o.size;
  o.steps = num('steps', 1) ?? o.steps;
  o.guidance = num('guidance', 0) ?? o.guidance;
  o.warmup = num('warmup', 0) ?? o.warmup;
  o.runs = num('runs', 1) ?? o.runs;
  o.e2eRuns = num('e2eRuns', 1) ?? o.e2eRuns;
  o.threads = num('threads', 0) ?? o.threads;
  if (flags['e2e'] === false) o.skipEndToEnd = true;
  if (str('saveUnetOutput')) o.saveUnetOutput = resolve(str('saveUnetOutput')!);
  if (str('compareUnetOutput')) o.compareUnetOutput = resolve(str('compareUnetOutput')!);
  return o;
}

/** The config JSON tools/bench/torch_reference.py reads (--config). */
export function shapeConfigJson(shape: BenchShapeName): string {
  return `${JSON.stringify(SHAPES[shape], null, 2)}\n`;
}

export async function benchMain(flags: Record<string, unknown>, command: string): Promise<void> {
  if (flags['printConfig']) {
    const shape = typeof flags['shape'] === 'string' ? flags['shape'] : 'mini';
    if (!isBenchShape(shape)) throw new Error(`--shape ${shape} (choose from ${BENCH_SHAPES.join(', ')})`);
    process.stdout.write(shapeConfigJson(shape));
    return;
  }
  const o = optionsFromFlags(flags);
  o.command = command;
  o.log = (m) => process.stderr.write(`bench: ${m}\n`);
  if (flags['buildOnly']) {
    const { dir } = await ensureBenchModel(o.shape, o.dtype, o.modelsDir, o.log);
    process.stdout.write(`${dir}\n`);
    return;
  }
  const report = await runBench(o);
  process.stdout.write(formatReport(report));
  const json = typeof flags['json'] === 'string' ? resolve(flags['json']) : undefined;
  if (json) {
    await mkdir(dirname(json), { recursive: true });
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: wrote ${json}\n`);
  }
  if (report.runs.every((e) => e.errors.length > 0)) process.exitCode = 1;
}

/** `node --import tsx tools/bench/run.ts --shape mini --json out.json` (the flags of `darkroom bench`). */
async function main(argv: string[]): Promise<void> {
  const flags: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (key === 'printConfig' || key === 'buildOnly') flags[key] = true;
    else if (key === 'noE2e') flags['e2e'] = false;
    else flags[key] = argv[++i];
  }
  await benchMain(flags, `node --import tsx tools/bench/run.ts ${argv.join(' ')}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
