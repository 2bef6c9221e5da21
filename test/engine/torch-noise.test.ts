import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TorchCpuGenerator } from '../../src/engine/noise/torch-cpu.ts';

/** torch.randn reference values from tools/torch-noise/make.py (see its header to regenerate). */
interface Fixture {
  producedBy: string;
  cases: { seed: number; calls: { size: number; first: string[]; last: string[]; sha256: string }[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-randn.json', import.meta.url), 'utf8')) as Fixture;

function hexBits(x: Float32Array): string[] {
  return Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length), (b) => b.toString(16).padStart(8, '0'));
}

for (const { seed, calls } of fixture.cases) {
  test(`torch.Generator("cpu").manual_seed(${seed}) then randn of ${calls.map((c) => c.size).join(', ')}: the same float32 bits`, () => {
    const g = new TorchCpuGenerator(seed);
    for (const [i, call] of calls.entries()) {
      const x = g.randn(call.size);
      assert.equal(x.length, call.size);
      assert.deepEqual(hexBits(x.subarray(0, call.first.length)), call.first, `call ${i} (size ${call.size}): first values`);
      assert.deepEqual(hexBits(x.subarray(x.length - call.last.length)), call.last, `call ${i} (size ${call.size}): last values`);
      const sha = createHash('sha256').update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest('hex');
      assert.equal(sha, call.sha256, `call ${i} (size ${call.size}): checksum of all values`);
    }
  });
}

test('the fixture covers both of torch randn paths, odd sizes, 0 and the largest seed', () => {
  const sizes = fixture.cases.flatMap((c) => c.calls.map((k) => k.size));
  assert.ok(sizes.some((n) => n > 0 && n < 16));
  assert.ok(sizes.some((n) => n > 16 && n % 16 !== 0));
  assert.ok(sizes.includes(0));
  assert.ok(fixture.cases.some((c) => c.seed === 2 ** 32 - 1));
});

test('a bad size is refused', () => {
  assert.throws(() => new TorchCpuGenerator(1).randn(-1), /size/);
  assert.throws(() => new TorchCpuGenerator(1).randn(1.5), /size/);
});
