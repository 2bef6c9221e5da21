import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BatchNoise, Rng, assertSeed, seedForOutput, MAX_SEED } from '../../src/engine/random.ts';
import { TorchCpuGenerator } from '../../src/engine/noise/torch-cpu.ts';

test('same seed gives the same normals; different seeds differ', () => {
  const a = new Rng(42).fillNormal(new Float32Array(1000));
  const b = new Rng(42).fillNormal(new Float32Array(1000));
  const c = new Rng(43).fillNormal(new Float32Array(1000));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('normals have mean ~0 and variance ~1', () => {
  const n = 200_000;
  const x = new Rng(7).fillNormal(new Float32Array(n));
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
});

test('batch noise slice k equals a single stream seeded seed+k, call after call', () => {
  const per = 64;
  const batch = new BatchNoise([10, 11, 12], per);
  const single = new BatchNoise([12], per);
  for (let call = 0; call < 3; call++) {
    const b = batch.next();
    const s = single.next();
    assert.deepEqual(b.subarray(2 * per, 3 * per), s);
  }
});

test('torch-cpu batch noise: image k draws from its own torch generator seeded seed+k, call after call', () => {
  const per = 4 * 8 * 8;
  const batch = new BatchNoise([10, 11], per, ['torch-cpu', 'torch-cpu']);
  const own = [new TorchCpuGenerator(10), new TorchCpuGenerator(11)];
  for (let call = 0; call < 3; call++) {
    const b = batch.next();
    own.forEach((g, k) => assert.deepEqual(b.subarray(k * per, (k + 1) * per), g.randn(per)));
  }
});

test('images of one batch may draw from different sources', () => {
  const per = 32;
  const mixed = new BatchNoise([5, 5], per, ['darkroom', 'torch-cpu']).next();
  assert.deepEqual(mixed.subarray(0, per), new BatchNoise([5], per).next());
  assert.deepEqual(mixed.subarray(per), new TorchCpuGenerator(5).randn(per));
});

test("torch-cpu latents of seed 42 at 512x512 are torch.randn((1, 4, 64, 64)) of manual_seed(42), and the next draw (an ancestral step's noise) torch's next randn", () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-randn.json', import.meta.url), 'utf8')) as {
    cases: { seed: number; calls: { size: number; sha256: string }[] }[];
  };
  const calls = fixture.cases.find((c) => c.seed === 42)!.calls;
  const noise = new BatchNoise([42], 4 * 64 * 64, ['torch-cpu']);
  for (const call of calls) {
    const x = noise.next();
    assert.equal(x.length, call.size);
    assert.equal(createHash('sha256').update(new Uint8Array(x.buffer)).digest('hex'), call.sha256);
  }
});

test('seed range is 0..2^32-1 and output seeds wrap', () => {
  assertSeed(0);
  assertSeed(MAX_SEED);
  assert.throws(() => assertSeed(-1), /seed/);
  assert.throws(() => assertSeed(2 ** 32), /seed/);
  assert.throws(() => assertSeed(1.5), /seed/);
  assert.equal(seedForOutput(MAX_SEED, 1), 0);
  assert.equal(seedForOutput(5, 3), 8);
});
