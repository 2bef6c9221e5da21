import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { combineReports, type AnyReport } from '../../tools/bench/combine.ts';

function report(runtime: 'darkroom' | 'pytorch', opt: string, e2eMs: number, ips: number[], over: Partial<AnyReport> = {}): AnyReport {
  const t = (ms: number) => ({ medianMs: ms, p90Ms: ms, minMs: ms, runs: 3, peakMemoryMB: 1000, memorySource: 'x' });
  return {
    tool: runtime === 'darkroom' ? 'darkroom-bench' : 'darkroom-bench-torch-reference',
    date: '2026-11-25T00:00:00Z',
    command: `${runtime} command`,
    machine: { gpu: 'NVIDIA H100 80GB HBM3' },
    shape: 'sd15',
    dtype: 'fp16',
    size: 512,
    steps: 20,
    guidance: 7.5,
    runs: [
      {
        runtime,
        provider: 'cuda',
        opt,
        label: `${runtime} cuda ${opt}`,
        unet: [{ batch: 2, ...t(20) }],
        endToEnd: t(e2eMs),
        throughput: ips.map((v, i) => ({ images: [1, 8][i]!, ...t(1000 / v), imagesPerSecond: v })),
        errors: [],
      },
    ],
    ...over,
  };
}

test('the combined table gives ratios against PyTorch eager and checks the targets', () => {
  const md = combineReports([report('darkroom', 'ort-all', 360, [2.5, 12]), report('pytorch', 'eager', 480, [2, 7.5])]);
  assert.match(md, /\| darkroom cuda ort-all \| 360\.0 \| 2\.50 \| 12\.00 \| 1000 \| 1\.33 \| 1\.60 \|/);
  assert.match(md, /latency ≤ 400 ms: 360\.0 ms \(darkroom cuda ort-all\) — met/);
  assert.match(md, /throughput ≥ 11 images\/s: 12\.00 .* — met/);
  assert.match(md, /latency ≥ 1\.1x PyTorch eager: 1\.33x — met/);
  assert.match(md, /throughput ≥ 1\.5x PyTorch eager: 1\.60x — met/);
  const slow = combineReports([report('darkroom', 'none', 500, [2, 8]), report('pytorch', 'eager', 480, [2, 7.5])]);
  assert.match(slow, /latency ≥ 1\.1x PyTorch eager: 0\.96x — not met/);
});

test('reports of different settings are not compared', () => {
  const md = combineReports([report('darkroom', 'ort-all', 360, [3]), report('pytorch', 'eager', 480, [2], { steps: 4 })]);
  assert.match(md, /\*\*Not comparable\*\*/);
  assert.doesNotMatch(md, /latency ×/);
  const mini = combineReports([report('darkroom', 'ort-all', 30, [40], { shape: 'mini' })]);
  assert.match(mini, /not evaluated for this run/);
});

test('gpu.sh is valid bash', () => {
  const r = spawnSync('bash', ['-n', new URL('../../tools/bench/gpu.sh', import.meta.url).pathname]);
  assert.equal(r.status, 0, r.stderr?.toString());
});
