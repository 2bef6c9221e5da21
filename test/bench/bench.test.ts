/**
 * `darkroom bench` on the tiny CPU shape: the harness runs end to end and its JSON has every field,
 * with positive figures. No timing thresholds: these tests keep the harness from rotting, they do
 * not judge the machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readModel } from '../../src/engine/onnx/builder.ts';
import { SHAPES, unetParamCount } from '../../tools/bench/configs.ts';
import { defaultOptions, formatReport, optionsFromFlags, runBench, type BenchReport, type RunEntry } from '../../tools/bench/run.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-bench-'));
});
after(() => rm(root, { recursive: true, force: true }));

function assertTiming(t: { medianMs: number; p90Ms: number; minMs: number; runs: number }, what: string): void {
  assert.ok(t.medianMs > 0 && t.p90Ms >= t.medianMs && t.minMs > 0 && t.minMs <= t.medianMs, `${what}: ${JSON.stringify(t)}`);
  assert.ok(t.runs >= 1, what);
}

function assertEntry(e: RunEntry, steps: number, batches: number[], images: number[]): void {
  assert.deepEqual(e.errors, [], e.label);
  assert.equal(e.runtime, 'darkroom');
  assert.ok(e.loadMs! > 0);
  assert.deepEqual(e.unet.map((u) => u.batch), batches);
  for (const u of e.unet) {
    assertTiming(u, `${e.label} unet ${u.batch}`);
    assertTiming(u.prepared, `${e.label} unet ${u.batch} prepared`);
    assert.ok(u.peakMemoryMB > 0 && u.memorySource.length > 0);
  }
  const x = e.endToEnd!;
  assertTiming(x, `${e.label} end to end`);
  assert.equal(x.images, 1);
  assert.equal(x.breakdown.unetCalls, steps);
  assert.ok(x.breakdown.unetMs > 0 && x.breakdown.textEncoderMs > 0 && x.breakdown.vaeMs > 0 && x.breakdown.otherMs >= 0);
  assert.ok(x.peakMemoryMB > 0);
  assert.deepEqual(e.throughput.map((t) => t.images), images);
  for (const t of e.throughput) {
    assertTiming(t, `${e.label} throughput ${t.images}`);
    assert.ok(t.imagesPerSecond > 0 && t.peakMemoryMB > 0);
  }
}

test('darkroom bench --shape mini prints the tables and writes the JSON report', async () => {
  const json = join(root, 'out.json');
  const { stdout } = await run(process.execPath, [
    bin, 'bench', '--shape', 'mini', '--opt', 'none,ort-all', '--steps', '4', '--runs', '2', '--warmup', '1', '--e2e-runs', '1',
    '--batches', '1,2', '--images', '1,2', '--threads', '1', '--models-dir', join(root, 'models'), '--json', json,
  ]);
  assert.match(stdout, /UNet forward/);
  assert.match(stdout, /End to end/);
  assert.match(stdout, /cpu\s+ort-all/);
  const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
  assert.equal(report.tool, 'darkroom-bench');
  assert.equal(report.shape, 'mini');
  assert.equal(report.dtype, 'fp32');
  assert.deepEqual([report.size, report.steps, report.guidance, report.scheduler], [64, 4, 7.5, 'euler']);
  assert.equal(report.params['unet'], unetParamCount(SHAPES.mini.unet));
  assert.ok(report.machine.cores > 0 && report.machine.node.startsWith('v') && report.machine.onnxruntime === '1.29.0');
  assert.ok(!Number.isNaN(Date.parse(report.date)) && report.command.includes('bench'));
  assert.deepEqual(report.runs.map((e) => `${e.provider} ${e.opt}`), ['cpu none', 'cpu ort-all']);
  for (const e of report.runs) assertEntry(e, 4, [1, 2], [1, 2]);
});

test('ort-cached, fused + fixed-shape optimisation sets, and an SDXL-shaped model, run in the engine', async () => {
  const o = {
    ...defaultOptions('mini-xl'),
    opts: ['ort-cached', 'fused-fixed', 'nhwc'] as const,
    steps: 3,
    runs: 1,
    warmup: 0,
    e2eRuns: 1,
    batches: [2],
    images: [1, 2],
    threads: 1,
    modelsDir: join(root, 'models'),
  };
  const report = await runBench({ ...o, opts: [...o.opts] });
  const [cached, fixed, nhwc] = report.runs;
  assertEntry(cached!, 3, [2], [1, 2]);
  assertEntry(fixed!, 3, [2], [1, 2]);
  assert.match(nhwc!.errors[0]!, /webgpu/);
  assert.ok(cached!.cacheBuildMs! > 0);
  const dir = report.modelDir;
  assert.ok(existsSync(join(`${dir}.ort-cpu`, 'unet', 'model.onnx')), 'the optimised graphs are cached on disk');
  // The fixed-shape copies of the fused graphs have the sizes written in.
  const unet = await readModel(join(`${dir}.fused.fixed-2x64`, 'unet', 'model.onnx'), { loadExternalData: false });
  assert.ok(unet.graph!.node!.some((n) => n.op_type === 'MultiHeadAttention'));
  const sample = unet.graph!.input!.find((i) => i.name === 'sample')!.type!.tensor_type!.shape!.dim!;
  assert.deepEqual(sample.map((d) => d.dim_value), [4, 4, 8, 8]);
  // A second run reuses the cache (nothing to build).
  const again = await runBench({ ...o, opts: ['ort-cached'], images: [1], skipEndToEnd: true });
  assert.equal(again.runs[0]!.cacheBuildMs, 0);
  assert.match(formatReport(report), /! darkroom cpu nhwc: nhwc applies to the webgpu provider only/);
});

test('the fused-fp16 set times the engine\'s own float16 twins of a float32 build', async () => {
  const o = { ...defaultOptions('mini'), opts: ['fused-fp16' as const], steps: 2, runs: 1, warmup: 0, e2eRuns: 1, batches: [2], images: [1], threads: 1, modelsDir: join(root, 'models') };
  const report = await runBench(o);
  assert.equal(report.dtype, 'fp32');
  assertEntry(report.runs[0]!, 2, [2], [1]);
  assert.ok(report.runs[0]!.cacheBuildMs! > 0, 'the twins were made before loading');
  assert.ok(existsSync(join(report.modelDir, 'unet', 'model.optimized.fp16.onnx')));
});

test('bench flags are checked, and --print-config gives the architecture for the PyTorch reference', async () => {
  assert.throws(() => optionsFromFlags({ shape: 'huge' }), /--shape huge/);
  assert.throws(() => optionsFromFlags({ providers: 'cpu,tpu' }), /--providers: tpu/);
  assert.throws(() => optionsFromFlags({ opt: 'fast' }), /--opt: fast/);
  assert.throws(() => optionsFromFlags({ batches: '1,0' }), /--batches/);
  assert.throws(() => optionsFromFlags({ runs: 'x' }), /--runs x/);
  const gpu = optionsFromFlags({ shape: 'sd15', providers: 'cuda' });
  assert.deepEqual([gpu.dtype, gpu.size, gpu.steps, gpu.guidance], ['fp16', 512, 20, 7.5]);
  assert.deepEqual(gpu.batches, [1, 2, 4, 8, 16]);
  await assert.rejects(runBench({ ...defaultOptions('mini'), size: 72 }), /multiple of 32/);
  const { stdout } = await run(process.execPath, [bin, 'bench', '--print-config', '--shape', 'sdxl']);
  assert.deepEqual(JSON.parse(stdout), SHAPES.sdxl);
  await assert.rejects(run(process.execPath, [bin, 'bench', '--shape', 'nope']), (err: { code: number; stderr: string }) => err.code === 1 && /--shape nope/.test(err.stderr));
});
