/** `darkroom bench`: latency and throughput of Stable Diffusion-shaped models in the engine (tools/bench/run.ts). */
import { Option, type Command } from 'commander';
import { BENCH_SHAPES, OPT_SETS } from '../../tools/bench/configs.ts';

/** The flags that shape a timed run: --print-config and --build-only time nothing, so they refuse these (--build-only keeps the dtype, which --providers defaults). */
const TIMING_FLAGS = ['dtype', 'providers', 'opt', 'batches', 'images', 'size', 'steps', 'guidance', 'scheduler', 'warmup', 'runs', 'e2eRuns', 'threads', 'e2e', 'model', 'json'];

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark the engine on SD-shaped random-weight models: UNet forward, end to end, throughput, memory')
    .option('--shape <name>', `model shape: ${BENCH_SHAPES.join(', ')}`, 'mini')
    .option('--dtype <type>', 'fp32 or fp16 (default: fp16 with a GPU provider, else fp32)')
    .option('--providers <list>', 'execution providers, comma-separated: cpu, cuda, webgpu', 'cpu')
    .option('--opt <list>', `optimisation sets, comma-separated: ${OPT_SETS.join(', ')}`, 'ort-all')
    .option('--batches <list>', 'UNet batch sizes to time')
    .option('--images <list>', 'images per request for the throughput sweep')
    .option('--size <px>', 'image side in pixels (default: the shape’s own)')
    .option('--steps <n>', 'denoising steps', '20')
    .option('--guidance <scale>', 'classifier-free guidance scale', '7.5')
    .option('--scheduler <name>', 'scheduler', 'euler')
    .option('--warmup <n>', 'untimed UNet runs before timing')
    .option('--runs <n>', 'timed UNet runs per batch size')
    .option('--e2e-runs <n>', 'timed generations per end-to-end / throughput figure')
    .option('--threads <n>', 'ONNX Runtime threads per operator (0 = its choice)')
    .option('--no-e2e', 'UNet forward timings only')
    .option('--model <folder>', 'time this model folder instead of a built one')
    .option('--models-dir <folder>', 'where built benchmark models are cached (default data/bench-models)')
    .option('--json <file>', 'also write the full report as JSON')
    .addOption(new Option('--build-only', 'build (or find) the model, print its folder and exit').conflicts(TIMING_FLAGS.filter((f) => f !== 'dtype' && f !== 'providers')))
    .addOption(new Option('--print-config', 'print the shape’s architecture config (for tools/bench/torch_reference.py) and exit').conflicts([...TIMING_FLAGS, 'modelsDir', 'buildOnly']))
    .action(async (opts: Record<string, unknown>) => {
      const { benchMain } = await import('../../tools/bench/run.ts');
      await benchMain(opts, ['darkroom', ...process.argv.slice(2)].join(' '));
    });
}
