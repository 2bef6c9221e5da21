/**
 * Speed of the demo model through the real Engine: ms per image at the model's defaults
 * (256x256, 20 steps, classifier-free guidance), after one warm-up image.
 *
 *   DARKROOM_THREADS=1 node --import tsx tools/demo-model/bench.ts [--n 5] [--model DIR] [--steps N] [--size PX] [--optimize]
 *
 * DARKROOM_THREADS sets ONNX Runtime's threads per operator (1 = one core); --optimize loads the UNet
 * with its attention fused (model.optimized.onnx, as DARKROOM_OPTIMIZE_MODELS does).
 */
import { Engine } from '../../src/engine/engine.ts';
import { DEMO_MODEL_DIR } from './evaluate.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const n = Number(arg('--n') ?? 5);
const model = arg('--model') ?? DEMO_MODEL_DIR;
const steps = arg('--steps') ? Number(arg('--steps')) : undefined;
const size = arg('--size') ? Number(arg('--size')) : undefined;
const threads = Number(process.env['DARKROOM_THREADS'] ?? 0) || undefined;
const optimize = process.argv.includes('--optimize');
const engine = new Engine({ modelDirs: [], provider: 'cpu', threads, optimize });
const input = { prompt: 'a large red star on a blue background', steps, width: size, height: size };
try {
  await engine.generate(model, { ...input, seed: 0 });
  const times: number[] = [];
  let settings = '';
  for (let k = 1; k <= n; k++) {
    const t0 = performance.now();
    const { request } = await engine.generate(model, { ...input, seed: k });
    times.push(performance.now() - t0);
    settings = `${request.width}x${request.height}, ${request.steps} steps, ${request.scheduler}, guidance ${request.guidance}`;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${settings}, threads ${threads ?? 'auto'}${optimize ? ', fused attention' : ''}: median ${median.toFixed(0)} ms/image (min ${times[0]!.toFixed(0)}, max ${times[times.length - 1]!.toFixed(0)}, n ${n})`);
  console.log(JSON.stringify({ msPerImage: Math.round(median), min: Math.round(times[0]!), max: Math.round(times[times.length - 1]!), n, threads: threads ?? 0, optimize, settings }));
} finally {
  await engine.dispose();
}
