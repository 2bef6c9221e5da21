import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNoise, Rng, assertSeed, seedForOutput, MAX_SEED } from '../../src/engine/random.ts';

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

test('seed range is 0..2^32-1 and output seeds wrap', () => {
  assertSeed(0);
  assertSeed(MAX_SEED);
  assert.throws(() => assertSeed(-1), /seed/);
  assert.throws(() => assertSeed(2 ** 32), /seed/);
  assert.throws(() => assertSeed(1.5), /seed/);
  assert.equal(seedForOutput(MAX_SEED, 1), 0);
  assert.equal(seedForOutput(5, 3), 8);
});
