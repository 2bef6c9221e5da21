import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHalfBits, toHalfBits, float16ToFloat32, float32ToFloat16 } from '../../src/engine/runtime/fp16.ts';

test('known half-precision bit patterns', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up to infinity
    [Infinity, 0x7c00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // tie rounds to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie rounds to even (up)
  ];
  for (const [v, bits] of cases) assert.equal(toHalfBits(v), bits, `${v}`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
});

test('every finite half value survives a round trip', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue;
    assert.equal(toHalfBits(fromHalfBits(h)), h);
  }
});

test('array conversion keeps values within half precision', () => {
  const x = Float32Array.from([0.333, -1.5, 1000.25, 3e-5]);
  const y = float16ToFloat32(float32ToFloat16(x));
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) <= Math.abs(v) * 2 ** -10 + 2 ** -24, `${v} vs ${y[i]}`));
});
