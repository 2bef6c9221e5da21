import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detect, detectAll } from '../../tools/demo-model/detector.ts';
import { COLORS, POSITIONS, SHAPES, prng, renderScene, samplePairPrompt, samplePrompt, sceneFor } from '../../tools/demo-model/scenes.ts';

// The detector must be (nearly) perfect on the renderer's own scenes, or the evaluation would
// blame the model for the detector's mistakes.
test('the detector reads color, background, shape and position of rendered scenes', () => {
  const rand = prng(7);
  const wrong: string[] = [];
  const n = 300;
  for (let k = 0; k < n; k++) {
    const spec = samplePrompt(rand);
    const d = detect(renderScene(sceneFor(spec, rand), 256), 256, 256);
    for (const a of ['color', 'background', 'shape', 'position'] as const) {
      if (d[a] !== spec[a]) wrong.push(`${a}: "${spec.prompt}" (${spec.size}) read as ${d[a]} ${JSON.stringify(d.features)}`);
    }
  }
  assert.ok(wrong.length <= 3, `${wrong.length} misreadings in ${n} scenes:\n${wrong.join('\n')}`);
});

test('every shape, color and position is read in every size, at 128 and 512 px too', () => {
  const rand = prng(3);
  for (const size of [128, 256, 512]) {
    for (const shape of SHAPES) {
      for (const [i, color] of COLORS.entries()) {
        const background = COLORS[(i + 3) % COLORS.length]!;
        const position = POSITIONS[i % POSITIONS.length]!;
        for (const s of ['small', 'large']) {
          const d = detect(renderScene(sceneFor({ color, shape, position, background, size: s }, rand), size), size, size);
          assert.deepEqual([d.color, d.background, d.shape, d.position], [color, background, shape, position], `${s} ${color} ${shape} ${position} on ${background} at ${size}px`);
        }
      }
    }
  }
});

test('an empty background has no object', () => {
  const d = detect(renderScene({ bg: 'blue', objects: [] }, 64), 64, 64);
  assert.equal(d.background, 'blue');
  assert.equal(d.shape, null);
  assert.equal(d.objects, 0);
});

test('the detector counts separate objects', () => {
  const one = { shape: 'star', color: 'red', r: 0.15, x: 0.27, y: 0.5 };
  assert.equal(detect(renderScene({ bg: 'white', objects: [one] }, 256), 256, 256).objects, 1);
  const two = detect(renderScene({ bg: 'white', objects: [one, { ...one, shape: 'ring', color: 'blue', r: 0.1, x: 0.73 }] }, 256), 256, 256);
  assert.equal(two.objects, 2);
  assert.equal(two.color, 'red', 'the larger of the two is scored');
});

test('two-object scenes: both objects are read with their colors, shapes and order', () => {
  const rand = prng(5);
  const wrong: string[] = [];
  for (let k = 0; k < 60; k++) {
    const spec = samplePairPrompt(rand);
    const objects = spec.objects.flatMap((o) => sceneFor({ ...o, background: spec.background }, rand).objects);
    const seen = detectAll(renderScene({ bg: spec.background, objects }, 256), 256, 256);
    const [a, b] = spec.objects.map((o) => seen.objects.find((r) => r.color === o.color));
    const horizontal = spec.objects[0].position === 'left' || spec.objects[0].position === 'right';
    const ok = a && b && seen.background === spec.background && seen.objects.length === 2 &&
      a.shape === spec.objects[0].shape && b.shape === spec.objects[1].shape &&
      (horizontal ? (a.cx < b.cx) === (spec.objects[0].position === 'left') : (a.cy < b.cy) === (spec.objects[0].position === 'top'));
    if (!ok) wrong.push(`"${spec.prompt}" read as ${JSON.stringify(seen)}`);
  }
  assert.ok(wrong.length <= 1, wrong.join('\n'));
});
