/**
 * A model with its ONNX sessions created once and reused across generations. The VAE encoder is
 * only needed for image-to-image and inpainting, so it is created on first use.
 */
import { controlNetFile } from '../controlnet/folder.ts';
import { checkControlNet } from '../controlnet/residuals.ts';
import { ModelFormatError } from '../errors.ts';
import type { LoraComponent } from '../lora/keys.ts';
import type { FittedSet } from '../lora/library.ts';
import { mergedFile } from '../lora/merged-file.ts';
import { float16Refused } from './half-precision.ts';
import { OnnxSession, type ExecutionProvider, type SessionOptions } from '../runtime/session.ts';
import type { GeneratedImage } from '../pipelines/request.ts';
import { checkImages } from '../safety/checker.ts';
import { ClipTokenizer } from '../tokenizers/clip.ts';
import type { ModelInfo } from './model-folder.ts';
import { optimizedFile, stepsFor, type OnnxComponent, type OptimizeSteps } from './optimized.ts';
import type { DeviceLoopSetting } from '../pipelines/device-loop-setting.ts';
import { tilingVariant } from './tiling.ts';

export interface LoadOptions {
  provider: ExecutionProvider;
  threads?: number;
  onFallback?: (message: string) => void;
  /** ONNX Runtime settings beyond Darkroom's defaults, per model file (benchmarks, tuned deployments). */
  tuning?: SessionOptions['tuning'];
  /** Install-time rewrites to load the components through (optimized.ts), made and cached on first load. */
  optimize?: OptimizeSteps;
  log?: (message: string) => void;
  /** LoRA adapters to merge into the weights (cached next to the model, lora/merged-file.ts). */
  loras?: FittedSet;
  /** Run the folder's safety checker, when it has one, on every output (default true). */
  safetyChecker?: boolean;
  /** Run the denoising loop as one graph per K steps (pipelines/device-loop.ts); default auto: on a GPU provider. */
  deviceLoop?: DeviceLoopSetting;
}

/** The component's file with the LoRA adapters merged in; no fallback: without them it would be another model. */
async function withLoras(component: OnnxComponent, path: string, options: LoadOptions): Promise<string> {
  const adapters = options.loras?.[component as LoraComponent];
  if (!adapters?.length) return path;
  const merged = await mergedFile(path, adapters);
  if (merged.fresh) options.log?.(`${path}: ${merged.changed ?? 0} weights merged with LoRA ${adapters.map((a) => `${a.adapter.name}:${a.weight}`).join(', ')} (cached as ${merged.path})`);
  return merged.path;
}

/** The file to load for a component: its optimised twin when asked for and possible. */
async function componentFile(path: string, steps: OptimizeSteps, options: LoadOptions): Promise<string> {
  if (!steps.fuse && !steps.fp16) return path;
  try {
    const { path: file, reports } = await optimizedFile(path, steps);
    const did = reports.flatMap((r) => (r.did ? [r.did] : []));
    if (did.length) options.log?.(`${path}: ${did.join('; ')} (cached as ${file})`);
    return file;
  } catch (err) {
    // A read-only models folder, say: the original works, only slower.
    options.log?.(`${path}: not optimised (${err instanceof Error ? err.message : String(err)}); loading it as it is`);
    return path;
  }
}

/** Opens a component from its optimised twin when there is one that loads, else from the file itself. */
async function openComponent(
  path: string,
  steps: OptimizeSteps,
  options: LoadOptions,
  open: (file: string) => Promise<OnnxSession>,
): Promise<OnnxSession> {
  const file = await componentFile(path, steps, options);
  if (file === path) return open(path);
  try {
    return await open(file);
  } catch (err) {
    // A provider without a kernel for a fused operator, say: the plain graph still runs.
    options.log?.(`${file} does not load (${err instanceof Error ? err.message : String(err)}); loading ${path} as it is`);
    return open(path);
  }
}

/** The install-time steps `options` asks for, as they apply to `component` of this model. */
function stepsOf(info: ModelInfo, options: LoadOptions, component: OnnxComponent): OptimizeSteps {
  return stepsFor(component, info.vae.forceUpcast, options.optimize ?? {});
}

const REQUIRED_INPUTS = {
  textEncoder: ['input_ids'],
  unet: ['sample', 'timestep', 'encoder_hidden_states'],
  unetSdxl: ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'],
  vaeDecoder: ['latent_sample'],
  vaeEncoder: ['sample'],
} as const;

function requireInputs(session: OnnxSession, names: readonly string[], label: string): void {
  const missing = names.filter((n) => !session.hasInput(n));
  if (missing.length) {
    throw new ModelFormatError(
      `${label} has no input ${missing.map((m) => `"${m}"`).join(', ')} (its inputs: ${session.inputs.map((i) => i.name).join(', ')})`,
      session.path,
    );
  }
}

export class LoadedModel {
  private vaeEncoderSession?: Promise<OnnxSession>;
  private safetyCheckerSession?: Promise<OnnxSession>;
  private readonly controlNets = new Map<string, Promise<OnnxSession>>();
  private tiled?: Promise<LoadedModel>;
  private readonly companions = new Map<string, Promise<OnnxSession>>();
  private readonly logged = new Set<string>();
  /** Sessions this object created and so disposes (a tiling twin shares its parent's text encoders). */
  private readonly sessions: OnnxSession[];

  private constructor(
    readonly info: ModelInfo,
    readonly options: LoadOptions,
    readonly tokenizer: ClipTokenizer,
    readonly textEncoder: OnnxSession,
    readonly unet: OnnxSession,
    readonly vaeDecoder: OnnxSession,
    readonly tokenizer2?: ClipTokenizer,
    readonly textEncoder2?: OnnxSession,
    owned?: OnnxSession[],
  ) {
    this.sessions = owned ?? [textEncoder, unet, vaeDecoder, ...(textEncoder2 ? [textEncoder2] : [])];
  }

  static async load(info: ModelInfo, options: LoadOptions): Promise<LoadedModel> {
    const c = info.components;
    for (const note of info.notes) options.log?.(note);
    let warned = false;
    // Every session falls back the same way; say it once per model, not once per component.
    const sessionOptions = {
      ...options,
      onFallback: (m: string) => {
        if (!warned) options.onFallback?.(m);
        warned = true;
      },
    };
    // After one session falls back to CPU, the rest go straight there instead of probing the provider again.
    let provider = options.provider;
    const open = async (path: string) => {
      const s = await OnnxSession.load(path, { ...sessionOptions, provider });
      provider = s.provider;
      return s;
    };
    const [tokenizer, tokenizer2] = await Promise.all([
      ClipTokenizer.fromFolder(c.tokenizer),
      c.tokenizer2 ? ClipTokenizer.fromFolder(c.tokenizer2) : Promise.resolve(undefined),
    ]);
    const loaded: OnnxSession[] = [];
    try {
      const track = async (p: Promise<OnnxSession>) => {
        const s = await p;
        loaded.push(s);
        return s;
      };
      const openAs = async (component: OnnxComponent, path: string) => {
        const file = await withLoras(component, path, options);
        const steps = stepsOf(info, options, component);
        // A float16 twin refused for overflowing is refused for the model with LoRAs merged in too (the marker is the original's).
        const own = file !== path && steps.fp16 && (await float16Refused(path)) ? { ...steps, fp16: false } : steps;
        return track(openComponent(file, own, options, open));
      };
      const textEncoder = await openAs('textEncoder', c.textEncoder);
      const textEncoder2 = c.textEncoder2 ? await openAs('textEncoder2', c.textEncoder2) : undefined;
      const unet = await openAs('unet', c.unet);
      const vaeDecoder = await openAs('vaeDecoder', c.vaeDecoder);
      requireInputs(textEncoder, REQUIRED_INPUTS.textEncoder, info.refiner ? 'text_encoder_2/model.onnx' : 'text_encoder/model.onnx');
      if (textEncoder2) requireInputs(textEncoder2, REQUIRED_INPUTS.textEncoder, 'text_encoder_2/model.onnx');
      requireInputs(unet, textEncoder2 ? REQUIRED_INPUTS.unetSdxl : REQUIRED_INPUTS.unet, 'unet/model.onnx');
      requireInputs(vaeDecoder, REQUIRED_INPUTS.vaeDecoder, 'vae_decoder/model.onnx');
      return new LoadedModel(info, options, tokenizer, textEncoder, unet, vaeDecoder, tokenizer2, textEncoder2);
    } catch (err) {
      await Promise.all(loaded.map((s) => s.dispose()));
      throw err;
    }
  }

  get id(): string {
    return this.info.manifest.id;
  }

  private unetTurn: Promise<unknown> = Promise.resolve();

  /** Runs `work` once no earlier `work` of this model is running (the denoising loops take turns). */
  exclusiveUnet<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.unetTurn.then(work, work);
    this.unetTurn = turn.catch(() => undefined);
    return turn;
  }

  get provider(): ExecutionProvider {
    return this.unet.provider;
  }

  /** Latent channels the UNet takes: 4, or 9 for a dedicated inpainting UNet (latents + mask + masked image). */
  get unetInChannels(): number {
    const c = this.unet.input('sample')?.shape[1];
    return typeof c === 'number' ? c : 4;
  }

  get isInpaintingUnet(): boolean {
    return this.unetInChannels === 9;
  }

  async vaeEncoder(): Promise<OnnxSession> {
    const path = this.info.components.vaeEncoder;
    if (!path) {
      throw new ModelFormatError(`model ${this.id} has no vae_encoder/model.onnx, needed for image-to-image and inpainting`, this.info.dir);
    }
    const options = { ...this.options, provider: this.provider };
    this.vaeEncoderSession ??= openComponent(path, stepsOf(this.info, options, 'vaeEncoder'), options, (file) => OnnxSession.load(file, options)).then((s) => {
      this.sessions.push(s);
      requireInputs(s, REQUIRED_INPUTS.vaeEncoder, 'vae_encoder/model.onnx');
      return s;
    });
    return this.vaeEncoderSession;
  }

  /** ControlNet `name` of the model's folder (controlnet/<name>/model.onnx), opened on first use. */
  controlNet(name: string): Promise<OnnxSession> {
    let session = this.controlNets.get(name);
    if (!session) {
      const options = { ...this.options, provider: this.provider };
      session = OnnxSession.load(controlNetFile(this.info.dir, name), options).then((s) => {
        this.sessions.push(s);
        checkControlNet(this, name, s);
        return s;
      });
      session.catch(() => this.controlNets.delete(name));
      this.controlNets.set(name, session);
    }
    return session;
  }

  /** A session this model opens on first use under `key` and disposes with itself (the denoising loop graph); a failed open is not retried. */
  companion(key: string, open: () => Promise<OnnxSession>): Promise<OnnxSession> {
    let session = this.companions.get(key);
    if (!session) {
      session = open().then((s) => {
        this.sessions.push(s);
        return s;
      });
      this.companions.set(key, session);
    }
    return session;
  }

  /** Logs `message` the first time this model sees it. */
  logOnce(message: string): void {
    if (this.logged.has(message)) return;
    this.logged.add(message);
    this.options.log?.(message);
  }

  /** Whether outputs go through the folder's safety checker (it has one, and it is not turned off). */
  get checksSafety(): boolean {
    return this.info.components.safetyChecker !== undefined && this.options.safetyChecker !== false;
  }

  /** The outputs with the safety checker's verdict (`nsfw`, a flagged one blacked out); as they are when it does not run. */
  async checkSafety(images: GeneratedImage[]): Promise<GeneratedImage[]> {
    if (!this.checksSafety) return images;
    const options = { ...this.options, provider: this.provider };
    this.safetyCheckerSession ??= OnnxSession.load(this.info.components.safetyChecker!, options).then((s) => {
      this.sessions.push(s);
      requireInputs(s, ['clip_input'], 'safety_checker/model.onnx');
      return s;
    });
    return checkImages(await this.safetyCheckerSession, this.info.featureExtractor!, images);
  }

  /**
   * The same model with wrap-around convolutions in the UNet and VAE decoder (seamless textures).
   * Text encoders and the VAE encoder are shared with this model.
   */
  withTiling(): Promise<LoadedModel> {
    this.tiled ??= (async () => {
      const c = this.info.components;
      const options = { ...this.options, provider: this.provider };
      const openTiled = async (file: string) => OnnxSession.load(await tilingVariant(file), options);
      const unet = await openComponent(await withLoras('unet', c.unet, options), stepsOf(this.info, options, 'unet'), options, openTiled);
      const vaeDecoder = await openComponent(c.vaeDecoder, stepsOf(this.info, options, 'vaeDecoder'), options, openTiled);
      const twin = new LoadedModel(this.info, this.options, this.tokenizer, this.textEncoder, unet, vaeDecoder, this.tokenizer2, this.textEncoder2, [
        unet,
        vaeDecoder,
      ]);
      twin.vaeEncoder = () => this.vaeEncoder();
      twin.controlNet = (name) => this.controlNet(name);
      return twin;
    })();
    return this.tiled;
  }

  async dispose(): Promise<void> {
    if (this.tiled) await (await this.tiled.catch(() => undefined))?.dispose();
    await Promise.all(this.sessions.map((s) => s.dispose()));
  }
}
