import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canny } from '../../../src/engine/controlnet/canny.ts';

/** A size x size RGB image, black, with a square of `value` from `from` to `to` (exclusive). */
function square(size: number, from: number, to: number, value: number): Uint8Array {
  const rgb = new Uint8Array(size * size * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) rgb.fill(value, 3 * (y * size + x), 3 * (y * size + x) + 3);
  return rgb;
}

const edgeAt = (edges: Uint8Array, size: number, x: number, y: number) => edges[y * size + x] === 255;

test('a white square on black gives edges along its border, none inside or far outside', () => {
  const size = 64;
  const edges = canny(square(size, 16, 48, 255), size, size);
  assert.ok(edges.every((v) => v === 0 || v === 255));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = x >= 20 && x < 44 && y >= 20 && y < 44;
      const farOut = x < 12 || x >= 52 || y < 12 || y >= 52;
      if (inside || farOut) assert.equal(edgeAt(edges, size, x, y), false, `no edge at ${x},${y}`);
    }
  }
  // Each side, walked along its middle, crosses exactly one edge line within 2 pixels of the border.
  for (let t = 22; t < 42; t++) {
    const hits = (pick: (d: number) => [number, number]) => [-2, -1, 0, 1].filter((d) => edgeAt(edges, size, ...pick(d))).length;
    assert.equal(hits((d) => [16 + d, t]), 1, `left side at y=${t}`);
    assert.equal(hits((d) => [47 - d, t]), 1, `right side at y=${t}`);
    assert.equal(hits((d) => [t, 16 + d]), 1, `top side at x=${t}`);
    assert.equal(hits((d) => [t, 47 - d]), 1, `bottom side at x=${t}`);
  }
});

test('a flat image has no edges', () => {
  assert.ok(canny(new Uint8Array(32 * 32 * 3).fill(128), 32, 32).every((v) => v === 0));
});

test('thresholds: a faint square is an edge only under low thresholds; the high one seeds, the low one extends', () => {
  const size = 48;
  const faint = square(size, 12, 36, 30);
  const count = (e: Uint8Array) => e.reduce((n, v) => n + (v ? 1 : 0), 0);
  assert.equal(count(canny(faint, size, size)), 0, 'A1111 defaults 100/200 miss a step of 30');
  const low = count(canny(faint, size, size, { low: 10, high: 20 }));
  assert.ok(low >= 4 * 20, `10/20 find its border (${low} pixels)`);
  // Above the strongest gradient nothing seeds hysteresis, however low the weak threshold.
  assert.equal(count(canny(faint, size, size, { low: 10, high: 10_000 })), 0);
  assert.throws(() => canny(faint, size, size, { low: 50, high: 10 }), RangeError);
});
