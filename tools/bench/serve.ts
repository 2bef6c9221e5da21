/**
 * The server's own throughput under concurrent requests: `darkroom serve` in this process (embedded:
 * SQLite, the in-process queue, the real engine from the config) with a bench model installed,
 * driven over HTTP by `concurrency` Stablecog create requests of one image each, all at once, after
 * one request alone. The reference is that lone request in the same run: the ratio says what the
 * worker's dynamic batching (DARKROOM_BATCH_MAX) buys. The engine's batches are recorded, so the
 * report shows how many images each UNet batch held.
 *
 *   node --import tsx tools/bench/serve.ts --model <bench model folder> [--provider cuda] [--concurrency 16]
 *     [--batch-max 16] [--rounds 2] [--size 512] [--steps 20] [--guidance 7.5] [--json out.json]
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/config.ts';
import { engineFromConfig } from '../../src/engine/from-config.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { startServer } from '../../src/server/server.ts';
import { machineInfo } from './measure.ts';

export interface ServeOptions {
  modelDir: string;
  provider: string;
  concurrency: number;
  batchMax: number;
  /** DARKROOM_BATCH_WINDOW_MS; absent: the server's default. */
  windowMs?: number;
  rounds: number;
  size: number;
  steps: number;
  guidance: number;
  log?: (m: string) => void;
}

export interface ServeReport {
  tool: 'darkroom-serve-bench';
  date: string;
  machine: ReturnType<typeof machineInfo>;
  options: Omit<ServeOptions, 'log'>;
  /** One request alone (the reference), median ms over the rounds. */
  aloneMs: number;
  /** `concurrency` requests at once, per round: wall ms from the first sent to the last answered. */
  concurrentMs: number[];
  imagesPerSecond: number;
  /** imagesPerSecond against one request alone's rate. */
  speedup: number;
  /** Images in each engine batch of the concurrent rounds. */
  batches: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function serveBench(o: ServeOptions): Promise<ServeReport> {
  const log = o.log ?? (() => undefined);
  const dataDir = mkdtempSync(join(tmpdir(), 'darkroom-serve-bench-'));
  mkdirSync(join(dataDir, 'models'));
  symlinkSync(resolve(o.modelDir), join(dataDir, 'models', 'bench'));
  const model = (await readModelFolder(o.modelDir)).manifest.id;
  const config = loadConfig({
    DARKROOM_DATA_DIR: dataDir,
    DARKROOM_PORT: '0',
    DARKROOM_HOST: '127.0.0.1',
    DARKROOM_DEFAULT_MODEL: model,
    DARKROOM_EXECUTION_PROVIDER: o.provider,
    DARKROOM_BATCH_MAX: String(o.batchMax),
    DARKROOM_RATE_LIMIT: '0',
    DARKROOM_MAX_IN_FLIGHT: String(o.concurrency),
    DARKROOM_SAFETY_CHECKER: 'false',
    DARKROOM_GENERATION_TIMEOUT: '600',
    ...(o.windowMs === undefined ? {} : { DARKROOM_BATCH_WINDOW_MS: String(o.windowMs) }),
  });
  const engine = engineFromConfig(config, log);
  const batches: number[] = [];
  let recording = false;
  const generateBatch = engine.generateBatch.bind(engine);
  engine.generateBatch = (model, inputs, options) => {
    if (recording) batches.push(inputs.reduce((n, i) => n + (i.numOutputs ?? 1), 0));
    return generateBatch(model, inputs, options);
  };
  let key = '';
  const server = await startServer(config, { engine, log, onAdminKey: (secret) => (key = secret) });
  try {
    const admin = await server.services.accounts.userByName('admin');
    await server.services.credits.grant(admin.id, 1e9);
    const body = (seed: number) =>
      JSON.stringify({ prompt: 'a photograph of a red circle on a blue background', width: o.size, height: o.size, inference_steps: o.steps, guidance_scale: o.guidance, seed, num_outputs: 1 });
    const create = async (seed: number) => {
      const r = await fetch(`${server.url}/v1/image/generation/create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body(seed),
      });
      const answer = (await r.json()) as { outputs?: unknown[]; error?: string };
      if (r.status !== 200 || answer.outputs?.length !== 1) throw new Error(`create answered ${r.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    };
    const timed = async (work: () => Promise<unknown>) => {
      const t0 = performance.now();
      await work();
      return performance.now() - t0;
    };
    await create(0); // loads the model and warms the sessions
    const alone: number[] = [];
    const concurrent: number[] = [];
    for (let round = 0; round < o.rounds; round++) {
      alone.push(await timed(() => create(1)));
      const seeds = Array.from({ length: o.concurrency }, (_, i) => 100 * (round + 1) + i);
      recording = true;
      concurrent.push(await timed(() => Promise.all(seeds.map(create))));
      recording = false;
      log(`round ${round + 1}: one request ${alone.at(-1)!.toFixed(0)} ms; ${o.concurrency} at once ${concurrent.at(-1)!.toFixed(0)} ms`);
    }
    const imagesPerSecond = (o.concurrency * 1000) / median(concurrent);
    const { log: _, ...options } = o;
    return {
      tool: 'darkroom-serve-bench',
      date: new Date().toISOString(),
      machine: machineInfo(),
      options,
      aloneMs: Math.round(median(alone) * 10) / 10,
      concurrentMs: concurrent.map((ms) => Math.round(ms * 10) / 10),
      imagesPerSecond: Math.round(imagesPerSecond * 1000) / 1000,
      speedup: Math.round((imagesPerSecond * median(alone)) / 10) / 100,
      batches,
    };
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatServeReport(r: ServeReport): string {
  const o = r.options;
  return [
    `Darkroom server, ${o.provider}, ${o.size}x${o.size}, ${o.steps} steps, DARKROOM_BATCH_MAX=${o.batchMax} (${r.date})`,
    `one request alone: ${r.aloneMs} ms (${(1000 / r.aloneMs).toFixed(2)} img/s)`,
    `${o.concurrency} requests at once: ${r.concurrentMs.join(', ')} ms; ${r.imagesPerSecond.toFixed(2)} img/s, ${r.speedup.toFixed(2)}x one alone`,
    `images per engine batch: ${r.batches.join(', ')}`,
  ].join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      provider: { type: 'string', default: 'cpu' },
      concurrency: { type: 'string', default: '16' },
      'batch-max': { type: 'string', default: '16' },
      rounds: { type: 'string', default: '2' },
      size: { type: 'string', default: '512' },
      steps: { type: 'string', default: '20' },
      guidance: { type: 'string', default: '7.5' },
      json: { type: 'string' },
    },
  });
  if (!values.model) throw new Error('--model <bench model folder> is required');
  const report = await serveBench({
    modelDir: values.model,
    provider: values.provider,
    concurrency: Number(values.concurrency),
    batchMax: Number(values['batch-max']),
    rounds: Number(values.rounds),
    size: Number(values.size),
    steps: Number(values.steps),
    guidance: Number(values.guidance),
    log: (m) => process.stderr.write(`serve-bench: ${m}\n`),
  });
  process.stdout.write(formatServeReport(report));
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
}
