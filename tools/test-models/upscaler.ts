/**
 * A tiny random-weight super-resolution model in the layout Darkroom's upscaler loader reads
 * (`model.onnx` + `upscaler.json`): nearest-neighbour upsampling plus a learned-looking residual from
 * two 3x3 convolutions and DepthToSpace, so its receptive field (2 input pixels) is known and tiling can
 * be checked exactly.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder, saveModel } from '../../src/engine/onnx/builder.ts';
import { Prng } from './rng.ts';

export interface TestUpscalerOptions {
  scale?: number;
  tile?: number;
  overlap?: number;
  seed?: number;
}

export async function makeTestUpscaler(dir: string, options: TestUpscalerOptions = {}): Promise<void> {
  const s = options.scale ?? 4;
  const rng = new Prng(options.seed ?? 7);
  const g = new GraphBuilder('tiny-sr');
  const x = g.input('input', 'float32', [1, 3, 'height', 'width']);
  const hidden = 8;
  const w1 = g.initializer('conv1.weight', rng.fork('w1').normals(hidden * 3 * 9, 0.3), [hidden, 3, 3, 3]);
  const b1 = g.initializer('conv1.bias', new Float32Array(hidden), [hidden]);
  const w2 = g.initializer('conv2.weight', rng.fork('w2').normals(3 * s * s * hidden * 9, 0.05), [3 * s * s, hidden, 3, 3]);
  const b2 = g.initializer('conv2.bias', new Float32Array(3 * s * s), [3 * s * s]);
  const features = g.op('Relu', [g.conv(x, w1, b1, { pads: [1, 1, 1, 1] })]);
  const residual = g.op('DepthToSpace', [g.conv(features, w2, b2, { pads: [1, 1, 1, 1] })], { blocksize: s, mode: 'CRD' });
  const scales = g.constant(new Float32Array([1, 1, s, s]), [4]);
  const base = g.op('Resize', [x, '', scales], { mode: 'nearest' });
  const y = g.op('Clip', [g.add(base, residual), g.constant(new Float32Array([0]), []), g.constant(new Float32Array([1]), [])]);
  g.output('output', 'float32', [1, 3, 'out_height', 'out_width'], y);
  await mkdir(dir, { recursive: true });
  await saveModel(join(dir, 'model.onnx'), g.toModel());
  const manifest = {
    id: 'tiny-sr',
    name: `Tiny SR ${s}x (test)`,
    description: 'Random-weight super-resolution network for tests.',
    scale: s,
    range: 'zero-one',
    tile: options.tile ?? 32,
    overlap: options.overlap ?? 4,
    license: 'test only',
  };
  await writeFile(join(dir, 'upscaler.json'), JSON.stringify(manifest, null, 2) + '\n');
}
