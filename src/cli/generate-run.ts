/**
 * What `darkroom generate` does once its flags are sound: the model's rules, the same the server
 * applies before it charges anything (core/generations.ts), then the engine. Every refusal names the
 * flag the user typed, not the engine's field.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveSchedulerName } from '../api/stablecog/schedulers.ts';
import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { EngineInputError, ModelFormatError, ModelNotFoundError } from '../engine/errors.ts';
import type { ModelInfo } from '../engine/models/model-folder.ts';
import { ModelRegistry } from '../engine/models/registry.ts';
import { checkServedRequest, DEFAULT_HIRES_STRENGTH } from '../engine/pipelines/check-request.ts';
import { ValidationError } from '../core/errors.ts';
import { promptLoras, type LoraChoice } from '../core/loras.ts';
import { withDefaults } from '../engine/pipelines/defaults.ts';
import type { ControlNetInput, ControlPreprocessor, GenerationRequest } from '../engine/pipelines/request.ts';
import { numberFrom } from './arg-parsers.ts';
import { configFromFlags } from './config-flags.ts';
import { FlagError } from './flag-error.ts';
import { formatOf, outputPaths } from './generate.ts';
import { progressBar } from './progress-bar.ts';

/** The engine's request fields → the flags that set them. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  prompt: '<prompt>',
  negativePrompt: '--negative',
  width: '--width',
  height: '--height',
  steps: '--steps',
  guidance: '--guidance',
  scheduler: '--scheduler',
  seed: '--seed',
  numOutputs: '--num-outputs',
  initImage: '--init-image',
  strength: '--strength',
  mask: '--mask',
  maskSource: '--mask-alpha',
  tiling: '--tiling',
  hires: '--hires',
  'hires.scale': '--hires',
  loras: '--lora',
  controlnets: '--control',
  'controlnets[0].name': '--control-name',
  'controlnets[0].image': '--control',
  'controlnets[0].preprocessor': '--control-type',
  'controlnets[0].weight': '--control-weight',
};

/** The engine's request fields that numeric flags set → the option keys of those flags. */
const NUMERIC_OPTION_OF_FIELD: Readonly<Record<string, string>> = {
  seed: 'seed',
  steps: 'steps',
  width: 'width',
  height: 'height',
  guidance: 'guidance',
  strength: 'strength',
  numOutputs: 'numOutputs',
  'hires.scale': 'hires',
  'controlnets[0].weight': 'controlWeight',
};

/**
 * An engine refusal as the flag's: "numOutputs must be ..." → "--num-outputs: must be ...". A value
 * that is no number reached the check as NaN: the message shows what was typed instead.
 */
function asFlagError(err: unknown, opts: Record<string, unknown>): unknown {
  if (!(err instanceof EngineInputError)) return err;
  const flag = FLAG_OF_FIELD[err.field] ?? err.field;
  let message = err.message.startsWith(`${err.field}: `) || err.message.startsWith(`${err.field} `) ? err.message.slice(err.field.length).replace(/^:? /, '') : err.message;
  const option = NUMERIC_OPTION_OF_FIELD[err.field];
  const typed = option === undefined ? undefined : opts[option];
  if (typeof typed === 'string' && Number.isNaN(numberFrom(typed))) message = message.replace(/\bgot NaN$/, `got ${JSON.stringify(typed)}`);
  return new FlagError(flag, message);
}

async function isPresent(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The model by id, folder name or path; a folder that is there but holds no model says so. */
async function resolveModel(config: Config, ref: string, source: string): Promise<ModelInfo> {
  try {
    return await new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]).resolve(ref);
  } catch (err) {
    if (err instanceof ModelNotFoundError && (await isPresent(ref))) {
      throw new FlagError(
        source,
        `${ref} is not a model folder: it has no model_index.json (a model folder in the Hugging Face ONNX layout holds model_index.json, ` +
          'scheduler/, text_encoder/, tokenizer/, unet/, vae_decoder/, optionally vae_encoder/ and darkroom.json)',
      );
    }
    if (err instanceof ModelNotFoundError || err instanceof ModelFormatError) throw new FlagError(source, err.message);
    throw err;
  }
}

async function readInput(flag: string, path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new FlagError(flag, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function schedulerOf(name: string | undefined) {
  if (name === undefined) return undefined;
  try {
    return resolveSchedulerName(name);
  } catch (err) {
    throw new FlagError('--scheduler', (err as Error).message);
  }
}

/** The server's checks: the engine's rules over the manifest, and a scheduler the model offers. */
function checkAsServer(info: ModelInfo, request: GenerationRequest, opts: Record<string, unknown>): void {
  try {
    checkServedRequest({ manifest: info.manifest, imageToImage: info.components.vaeEncoder !== undefined, controlNets: info.controlNets }, request);
  } catch (err) {
    throw asFlagError(err, opts);
  }
}

/** --control and its flags as the engine's one ControlNet; the name defaults to the model's only ControlNet, else the one named as the type. */
async function controlFlags(info: ModelInfo, opts: Record<string, unknown>): Promise<ControlNetInput[] | undefined> {
  const image = await readInput('--control', opts['control'] as string | undefined);
  if (!image) return undefined;
  const preprocessor = ((opts['controlType'] as string | undefined) ?? 'canny') as ControlPreprocessor;
  const named = info.controlNets.length === 1 ? info.controlNets[0] : info.controlNets.find((n) => n === preprocessor);
  const name = (opts['controlName'] as string | undefined) ?? named;
  if (name === undefined) {
    throw new FlagError(
      '--control-name',
      info.controlNets.length ? `model ${info.manifest.id} has several ControlNets (${info.controlNets.join(', ')}): say which` : `model ${info.manifest.id} has no ControlNets (controlnet/<name>/model.onnx in its folder)`,
    );
  }
  return [{ name, image, preprocessor, weight: numberFrom(opts['controlWeight']) ?? 1 }];
}

export async function runGenerate(prompt: string, opts: Record<string, unknown>): Promise<void> {
  const config = configFromFlags(opts);
  const model = opts['model'] as string | undefined;
  const info = await resolveModel(config, model ?? config.defaultModel, model !== undefined ? '--model' : 'DARKROOM_DEFAULT_MODEL');
  // --lora flags, then the prompt's <lora:name:weight> tags (taken out of its text), as the server reads them.
  let tagged: { prompt: string; loras: LoraChoice[] };
  try {
    tagged = promptLoras(prompt);
  } catch (err) {
    throw err instanceof ValidationError ? new FlagError('<prompt>', err.message) : err;
  }
  const loras = [...((opts['lora'] as LoraChoice[] | undefined) ?? []), ...tagged.loras];
  const controlnets = await controlFlags(info, opts);
  const request = withDefaults(info.manifest, {
    prompt: tagged.prompt,
    ...(loras.length ? { loras } : {}),
    negativePrompt: opts['negative'] as string | undefined,
    seed: numberFrom(opts['seed']),
    steps: numberFrom(opts['steps']),
    scheduler: schedulerOf(opts['scheduler'] as string | undefined),
    width: numberFrom(opts['width']),
    height: numberFrom(opts['height']),
    guidance: numberFrom(opts['guidance']),
    numOutputs: numberFrom(opts['numOutputs'])!,
    initImage: await readInput('--init-image', opts['initImage'] as string | undefined),
    strength: numberFrom(opts['strength']),
    mask: await readInput('--mask', opts['mask'] as string | undefined),
    maskSource: opts['maskAlpha'] ? 'alpha' : 'luminance',
    tiling: opts['tiling'] === true,
    ...(opts['hires'] !== undefined ? { hires: { scale: numberFrom(opts['hires'])!, strength: DEFAULT_HIRES_STRENGTH } } : {}),
    ...(controlnets ? { controlnets } : {}),
    promptSyntax: config.promptSyntax,
    noise: config.noise,
  });
  checkAsServer(info, request, opts);

  const { engineFromConfig } = await import('../engine/from-config.ts');
  const { encodeImage } = await import('../engine/image.ts');
  const engine = engineFromConfig(config);
  try {
    const bar = progressBar('generating');
    const started = Date.now();
    const { images } = await engine.generate(info.dir, request, { onProgress: (p) => bar.update(p.step, p.total) }).catch((err: unknown) => {
      throw asFlagError(err, opts);
    });
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
}
