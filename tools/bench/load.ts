/**
 * Load time of a benchmark UNet (SD 1.5-shaped by default, random weights: tools/bench/make.ts)
 * with and without the on-disk cache of optimised graphs (src/engine/runtime/graph-cache.ts):
 *
 *   uncached      optimised at level 'all' in memory, nothing saved (the load before the cache)
 *   first load    the same, ONNX Runtime also writing the optimised graph into the cache
 *   cached load   the saved graph loaded with optimisations off (every load after the first)
 *
 * The cache entry is removed first, so the first load is a first load. Each load is a fresh session
 * in this process, timed to the session being ready; ratios are against the uncached load of the
 * same run. The cached session's output is checked equal to the uncached one's.
 *
 *   node --import tsx tools/bench/load.ts [--shape sd15] [--provider cpu] [--runs 1] [--threads 0]
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { graphCacheDir } from '../../src/engine/runtime/graph-cache.ts';
import { OnnxSession, type ExecutionProvider, type Feed, type SessionOptions } from '../../src/engine/runtime/session.ts';
import { isBenchShape, SHAPES } from './configs.ts';
import { ensureBenchModel } from './make.ts';
import { machineInfo } from './measure.ts';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'sd15' },
    provider: { type: 'string', default: 'cpu' },
    runs: { type: 'string', default: '1' },
    threads: { type: 'string', default: '0' },
  },
});
if (!isBenchShape(values.shape)) throw new Error(`unknown --shape ${values.shape}`);
const provider = values.provider as ExecutionProvider;
const runs = Number(values.runs);
const log = (m: string) => process.stderr.write(`${m}\n`);

const { dir } = await ensureBenchModel(values.shape, 'fp32', undefined, log);
const unet = join(dir, 'unet', 'model.onnx');
const options: SessionOptions = { provider, threads: Number(values.threads) };

/** One UNet step's inputs at the shape's size, batch 1, from what the session declares. */
function feeds(s: OnnxSession): Record<string, Feed> {
  const lat = SHAPES[values.shape as keyof typeof SHAPES].size / 8;
  const dim = (name: string, i: number, fallback: number) => {
    const d = s.input(name)?.shape[i];
    return typeof d === 'number' ? d : fallback;
  };
  const wave = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7071));
  const out: Record<string, Feed> = {
    sample: { data: wave(4 * lat * lat), dims: [1, 4, lat, lat] },
    timestep: { data: [500], dims: [1] },
    encoder_hidden_states: { data: wave(77 * dim('encoder_hidden_states', 2, 768)), dims: [1, 77, dim('encoder_hidden_states', 2, 768)] },
  };
  for (const i of s.inputs) if (!out[i.name]) throw new Error(`the bench feeds no input "${i.name}"`);
  return out;
}

async function timedLoad(o: SessionOptions): Promise<{ ms: number; session: OnnxSession }> {
  const t0 = performance.now();
  const session = await OnnxSession.load(unet, o);
  return { ms: performance.now() - t0, session };
}

await rm(graphCacheDir(unet, { provider, level: 'all' }), { recursive: true, force: true });
const rows: { load: string; ms: number; graph: string }[] = [];

const uncached = await timedLoad({ ...options, graphCache: false });
rows.push({ load: 'uncached', ms: uncached.ms, graph: 'optimised now' });
log(`uncached: ${Math.round(uncached.ms)} ms`);
const reference = (await uncached.session.run(feeds(uncached.session))) as Record<string, { data: Float32Array }>;
await uncached.session.dispose();

const first = await timedLoad(options);
rows.push({ load: 'first load', ms: first.ms, graph: first.session.graphCache ?? 'not saved' });
log(`first load: ${Math.round(first.ms)} ms (${first.session.graphCache})`);
await first.session.dispose();

for (let i = 0; i < runs; i++) {
  const cached = await timedLoad(options);
  rows.push({ load: 'cached load', ms: cached.ms, graph: cached.session.graphCache ?? 'not used' });
  log(`cached load: ${Math.round(cached.ms)} ms (${cached.session.graphCache})`);
  if (i === 0) {
    const out = (await cached.session.run(feeds(cached.session))) as Record<string, { data: Float32Array }>;
    for (const [name, v] of Object.entries(reference)) {
      const w = out[name]!.data;
      if (w.length !== v.data.length || w.some((x, k) => x !== v.data[k])) throw new Error(`cached session's "${name}" differs from the uncached one's`);
    }
  }
  await cached.session.dispose();
}

const machine = machineInfo();
console.log(`\n${values.shape} UNet (${unet}), ${provider}; ${machine.cpu}, ${machine.cores} cores, onnxruntime ${machine.onnxruntime}\n`);
console.log('| load | graph | seconds | vs uncached |');
console.log('|---|---|---:|---:|');
for (const r of rows) console.log(`| ${r.load} | ${r.graph} | ${(r.ms / 1000).toFixed(1)} | ${(r.ms / uncached.ms).toFixed(2)}x |`);
