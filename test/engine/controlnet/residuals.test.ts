import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downResidualStates, keeps, residualInputs } from '../../../src/engine/controlnet/residuals.ts';
import type { OnnxSession } from '../../../src/engine/runtime/session.ts';

test("zero residuals take SD 1.5's ControlNet shapes: 12 down states, 320 to 1280 channels at 1/1 to 1/8", () => {
  const states = downResidualStates([320, 640, 1280, 1280], 2);
  assert.deepEqual(
    states.map((s) => s.channels),
    [320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280],
  );
  assert.deepEqual(
    states.map((s) => s.factor),
    [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8],
  );
  assert.equal(downResidualStates([32], 1).length, 2, 'the test UNet: conv_in and one layer');
});

test("a UNet's residual inputs: down_block* by their trailing numbers, then the mid one; none without mid_block_additional_residual", () => {
  const session = (names: string[]) =>
    ({ inputs: names.map((name) => ({ name, type: 'float32', shape: [] })), hasInput: (n: string) => names.includes(n) }) as unknown as OnnxSession;
  const names = ['sample', 'timestep', 'encoder_hidden_states', ...Array.from({ length: 12 }, (_, i) => `down_block_${11 - i}`), 'mid_block_additional_residual'];
  const got = residualInputs(session(names))!;
  assert.deepEqual(got.down, Array.from({ length: 12 }, (_, i) => `down_block_${i}`));
  assert.equal(got.mid, 'mid_block_additional_residual');
  assert.equal(residualInputs(session(['sample', 'timestep', 'encoder_hidden_states'])), undefined);
});

test("start/end keep a ControlNet on the steps diffusers' controlnet_keep does", () => {
  const on = (start: number, end: number, steps: number) => Array.from({ length: steps }, (_, i) => keeps({ start, end }, i, steps));
  assert.deepEqual(on(0, 1, 4), [true, true, true, true]);
  assert.deepEqual(on(0.5, 1, 4), [false, false, true, true]);
  assert.deepEqual(on(0, 0.5, 4), [true, true, false, false]);
});
