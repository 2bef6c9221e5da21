/** `darkroom generate "a prompt" ...`: one-shot generation to image files, with a progress bar. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { Command } from 'commander';
import { encodeImage } from '../engine/image.ts';
import { resolveSchedulerName } from '../api/stablecog/schedulers.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';
import { engineFromConfig } from '../engine/from-config.ts';
import { progressBar } from './progress-bar.ts';

const number = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};

/** out.png for one image; out-1.png, out-2.png... for several. */
export function outputPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = extname(out);
  const stem = ext ? out.slice(0, -ext.length) : out;
  return Array.from({ length: count }, (_, k) => `${stem}-${k + 1}${ext || '.png'}`);
}

function formatOf(path: string): 'png' | 'jpeg' | 'webp' {
  const ext = extname(path).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  return 'png';
}

export function registerGenerate(program: Command): void {
  withConfigFlags(
    program
      .command('generate')
      .description('generate images from a prompt')
      .argument('<prompt>', 'what to draw')
      .option('-m, --model <id|folder>', 'model id or model folder (default: DARKROOM_DEFAULT_MODEL)')
      .option('--seed <n>', 'seed of the first image, 0..4294967295 (default: random)', number)
      .option('--steps <n>', 'denoising steps', number)
      .option('--scheduler <name>', 'scheduler (euler, euler_a, dpmpp_2m, ddim, ... or a Stablecog/Leonardo name)')
      .option('--width <px>', 'width, a multiple of 8', number)
      .option('--height <px>', 'height, a multiple of 8', number)
      .option('--guidance <scale>', 'classifier-free guidance scale', number)
      .option('--negative <prompt>', 'negative prompt')
      .option('--init-image <file>', 'init image for image-to-image')
      .option('--strength <0..1>', 'how much of the init image to repaint', number)
      .option('--mask <file>', 'inpainting mask (white = repaint)')
      .option('--mask-alpha', 'read the mask from transparency (transparent = repaint)')
      .option('--tiling', 'seamless texture (models that allow it)')
      .option('-n, --num-outputs <n>', 'number of images; image k uses seed + k', number, 1)
      .option('-o, --out <file>', 'output file (.png, .jpg, .webp)', 'out.png'),
  ).action(async (prompt: string, opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const engine = engineFromConfig(config);
    try {
      const modelId = (opts['model'] as string | undefined) ?? config.defaultModel;
      const bar = progressBar('generating');
      const started = Date.now();
      const { request, images } = await engine.generate(
        modelId,
        {
          prompt,
          negativePrompt: opts['negative'] as string | undefined,
          seed: opts['seed'] as number | undefined,
          steps: opts['steps'] as number | undefined,
          scheduler: opts['scheduler'] ? resolveSchedulerName(opts['scheduler'] as string) : undefined,
          width: opts['width'] as number | undefined,
          height: opts['height'] as number | undefined,
          guidance: opts['guidance'] as number | undefined,
          numOutputs: opts['numOutputs'] as number,
          initImage: opts['initImage'] ? await readFile(opts['initImage'] as string) : undefined,
          strength: opts['strength'] as number | undefined,
          mask: opts['mask'] ? await readFile(opts['mask'] as string) : undefined,
          maskSource: opts['maskAlpha'] ? 'alpha' : 'luminance',
          tiling: opts['tiling'] === true,
        },
        { onProgress: (p) => bar.update(p.step, p.total) },
      );
      const paths = outputPaths(opts['out'] as string, images.length);
      await mkdir(dirname(paths[0]!), { recursive: true });
      for (const [k, image] of images.entries()) {
        await writeFile(paths[k]!, await encodeImage(image.pixels, image.width, image.height, formatOf(paths[k]!)));
        process.stdout.write(`${paths[k]}  seed ${image.seed}\n`);
      }
      process.stderr.write(
        `${request.width}x${request.height}, ${request.steps} steps, ${request.scheduler}, guidance ${request.guidance}, ` +
          `${((Date.now() - started) / 1000).toFixed(2)} s\n`,
      );
    } finally {
      await engine.dispose();
    }
  });
}
