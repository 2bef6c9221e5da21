/**
 * `darkroom generate "a prompt" ...`: one-shot generation to image files, with a progress bar. The
 * flags are checked here, before anything heavy loads; the model's own rules, the same the server
 * applies, in generate-run.ts, numeric flags' values included (they stay text until then, so that a
 * value that is no number is refused with the model's range for it).
 */
import { extname } from 'node:path';
import type { Command } from 'commander';
import { MODEL_SETTINGS, RUNTIME_SETTINGS, withConfigFlags } from './config-flags.ts';
import { FlagError } from './flag-error.ts';
import { loraFlag } from './loras.ts';

export const OUTPUT_FORMATS = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' } as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[keyof typeof OUTPUT_FORMATS];

/** The encoding an --out path asks for by its extension; none means PNG. */
export function formatOf(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '') return 'png';
  if (!Object.hasOwn(OUTPUT_FORMATS, ext)) {
    throw new FlagError('--out', `cannot write ${ext} files (${Object.keys(OUTPUT_FORMATS).join(', ')})`);
  }
  return OUTPUT_FORMATS[ext as keyof typeof OUTPUT_FORMATS];
}

/** out.png for one image; out-1.png, out-2.png... for several. */
export function outputPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = extname(out);
  const stem = ext ? out.slice(0, -ext.length) : out;
  return Array.from({ length: count }, (_, k) => `${stem}-${k + 1}${ext || '.png'}`);
}

/** Flags that mean something only with another one. */
function checkFlagPairs(opts: Record<string, unknown>): void {
  if (opts['initImage'] === undefined) {
    if (opts['strength'] !== undefined) throw new FlagError('--strength', 'needs --init-image (how much of the init image to repaint)');
    if (opts['mask'] !== undefined) throw new FlagError('--mask', 'needs --init-image (the image the mask paints into)');
  }
  if (opts['maskAlpha'] && opts['mask'] === undefined) throw new FlagError('--mask-alpha', 'needs --mask');
  if (opts['hires'] !== undefined && opts['initImage'] !== undefined) throw new FlagError('--hires', 'applies to text-to-image only, not with --init-image');
  if (opts['control'] === undefined) {
    for (const [key, flag] of [['controlType', '--control-type'], ['controlName', '--control-name'], ['controlWeight', '--control-weight']] as const) {
      if (opts[key] !== undefined) throw new FlagError(flag, 'needs --control (the control image)');
    }
  }
}

export function registerGenerate(program: Command): void {
  withConfigFlags(
    program
      .command('generate')
      .description('generate images from a prompt')
      .argument('<prompt>', 'what to draw')
      .option('-m, --model <id|folder>', 'model id or model folder (default: DARKROOM_DEFAULT_MODEL)')
      .option('--seed <n>', 'seed of the first image, 0..4294967295 (default: random)')
      .option('--steps <n>', 'denoising steps')
      .option('--scheduler <name>', 'scheduler (euler, euler_a, dpmpp_2m, ddim, ... or a Stablecog/Leonardo name) the model offers')
      .option('--width <px>', 'width, a multiple of 8')
      .option('--height <px>', 'height, a multiple of 8')
      .option('--guidance <scale>', 'classifier-free guidance scale')
      .option('--negative <prompt>', 'negative prompt')
      .option('--init-image <file>', 'init image for image-to-image')
      .option('--strength <0..1>', 'how much of the init image to repaint (with --init-image)')
      .option('--mask <file>', 'inpainting mask, white = repaint (with --init-image)')
      .option('--mask-alpha', 'read the mask from transparency, transparent = repaint (with --mask)')
      .option('--tiling', 'seamless texture (models that allow it)')
      .option('--hires <scale>', 'hires fix: draw at --width x --height, then redraw <scale> times larger (over 1, at most 4) by image-to-image')
      .option('--control <file>', "control image for the model's ControlNet (its folder's controlnet/<name>/)")
      .option('--control-type <canny|none>', 'how --control becomes a control map: canny (its Canny edges, the default) or none (it already is one)')
      .option('--control-name <name>', "which of the model's ControlNets (default: its only one, or the one named as --control-type)")
      .option('--control-weight <w>', 'ControlNet weight, 0..2 (default 1)')
      .option('--lora <name[:weight]>', 'a LoRA adapter from the LoRA folder at a weight (default 1); repeatable, like <lora:name:weight> in the prompt', loraFlag)
      .option('-n, --num-outputs <n>', 'number of images; image k uses seed + k', '1')
      .option('-o, --out <file>', `output file (${Object.keys(OUTPUT_FORMATS).join(', ')})`, 'out.png'),
    [...MODEL_SETTINGS, ...RUNTIME_SETTINGS, 'DARKROOM_NOISE', 'DARKROOM_PROMPT_SYNTAX', 'DARKROOM_LORAS_DIR'],
  ).action(async (prompt: string, opts: Record<string, unknown>) => {
    checkFlagPairs(opts);
    formatOf(opts['out'] as string);
    const { runGenerate } = await import('./generate-run.ts');
    await runGenerate(prompt, opts);
  });
}
