/**
 * The engine as the rest of Darkroom sees it: find a model, keep its sessions loaded, generate.
 * Loaded models are cached (least recently used goes first, never while a generation uses it).
 */
import { ModelRegistry } from './models/registry.ts';
import { NonFiniteOutputError } from './errors.ts';
import { LoadedModel } from './models/loaded-model.ts';
import { isFloat16Twin, refuseFloat16 } from './models/half-precision.ts';
import { DEFAULT_FUSIONS, fusionsFor, type FusionName } from './models/fuse-names.ts';
import { ONNX_COMPONENTS, type OnnxComponent } from './models/optimized.ts';
import type { DeviceLoopSetting } from './pipelines/device-loop-setting.ts';
import type { ExecutionProvider, SessionOptions } from './runtime/session.ts';
import { withDefaults, type GenerationInput } from './pipelines/defaults.ts';
import { generate, generateBatch } from './pipelines/generate.ts';
import { batchKey } from './pipelines/text-to-image.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from './pipelines/request.ts';
import { UpscalerRegistry } from './upscale/registry.ts';
import { LoraLibrary, loraSetKey, type LoraChoice } from './lora/library.ts';
import type { UpscaledImage } from './upscale/types.ts';

export interface EngineOptions {
  /** Folders searched for models, first match wins. */
  modelDirs: readonly string[];
  provider: ExecutionProvider;
  threads?: number;
  tuning?: SessionOptions['tuning'];
  /** Load UNets and VAEs with fused attention (cached next to the model on first load). */
  optimize?: boolean;
  /** What optimising fuses (default attention alone); those the provider has no kernels for are left out. */
  fusions?: readonly FusionName[];
  /** Load float32 models converted to float16 (cached next to the model on first load). */
  fp16?: boolean;
  /** Run the denoising loop as one graph per few steps (pipelines/device-loop.ts); default auto: on with a GPU provider. */
  deviceLoop?: DeviceLoopSetting;
  /** The folder of installed LoRA adapters (`<name>.safetensors`). */
  lorasDir?: string;
  /** How many models stay loaded at once (a model with a set of LoRAs merged in counts as one). */
  maxLoadedModels?: number;
  /** Run a model folder's safety checker on its outputs when it has one (default true). */
  safetyChecker?: boolean;
  log?: (message: string) => void;
}

interface CacheEntry {
  model: Promise<LoadedModel>;
  inUse: number;
  lastUsed: number;
}

export class Engine {
  readonly registry: ModelRegistry;
  readonly upscalers: UpscalerRegistry;
  readonly loras: LoraLibrary;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(readonly options: EngineOptions) {
    this.registry = new ModelRegistry(options.modelDirs);
    this.loras = new LoraLibrary(options.lorasDir);
    this.upscalers = new UpscalerRegistry(options.modelDirs, {
      provider: options.provider,
      threads: options.threads,
      tuning: options.tuning,
      onFallback: (m) => options.log?.(m),
    });
  }

  /** Upscales an encoded image with an upscaler by id (see `upscalers.list()`). */
  async upscale(upscalerId: string, image: Uint8Array, signal?: AbortSignal): Promise<UpscaledImage> {
    return (await this.upscalers.get(upscalerId)).upscale(image, signal);
  }

  /** Loads (or returns the loaded) model by id, folder name or path, with `loras` merged into its weights. */
  async model(idOrPath: string, loras: readonly LoraChoice[] = []): Promise<LoadedModel> {
    const info = await this.registry.resolve(idOrPath);
    const key = loras.length ? `${info.dir}\n${loraSetKey(loras)}` : info.dir;
    let entry = this.cache.get(key);
    if (!entry) {
      const fitting = loras.length ? this.loras.fit(info, loras) : Promise.resolve(undefined);
      const model = fitting.then((fitted) => LoadedModel.load(info, {
        ...(fitted ? { loras: fitted } : {}),
        provider: this.options.provider,
        threads: this.options.threads,
        tuning: this.options.tuning,
        optimize: { fuse: this.options.optimize, fp16: this.options.fp16, fusions: fusionsFor(this.options.provider, this.options.fusions ?? DEFAULT_FUSIONS) },
        safetyChecker: this.options.safetyChecker,
        deviceLoop: this.options.deviceLoop,
        onFallback: (m) => this.options.log?.(m),
        log: this.options.log,
      }));
      entry = { model, inUse: 0, lastUsed: Date.now() };
      this.cache.set(key, entry);
      model.catch(() => this.cache.delete(key));
      await this.evict(key);
    }
    entry.lastUsed = Date.now();
    return entry.model;
  }

  /** Fills defaults from the model's manifest and runs the pipeline the request needs. */
  async generate(
    idOrPath: string,
    input: GenerationInput,
    options: RunOptions = {},
  ): Promise<{ request: GenerationRequest; images: GeneratedImage[] }> {
    const [result] = await this.generateBatch(idOrPath, [input], options);
    return result!;
  }

  /**
   * Several requests for one model in one denoising batch (see `batchKeyOf` for which can share one);
   * results in input order, each equal to what its request would make alone.
   */
  async generateBatch(
    idOrPath: string,
    inputs: readonly GenerationInput[],
    options: RunOptions = {},
  ): Promise<{ request: GenerationRequest; images: GeneratedImage[] }[]> {
    // Each float16 component that overflows is refused once, so this ends after at most one retry per component.
    for (let attempt = 0; ; attempt++) {
      try {
        const loras = inputs[0]?.loras ?? [];
        if (inputs.some((input) => loraSetKey(input.loras) !== loraSetKey(loras))) throw new Error('a batch shares one set of LoRAs');
        return await this.using(idOrPath, loras, async (model) => {
          const requests = inputs.map((input) => withDefaults(model.info.manifest, input));
          const drawn = requests.length === 1 ? [await generate(model, requests[0]!, options)] : await generateBatch(model, requests, options);
          const images = await Promise.all(drawn.map((d) => model.checkSafety(d)));
          return requests.map((request, i) => ({ request, images: images[i]! }));
        });
      } catch (err) {
        if (!(err instanceof NonFiniteOutputError) || !isFloat16Twin(err.path) || attempt >= ONNX_COMPONENTS.length) throw err;
        await this.refuseFloat16(idOrPath, err);
      }
    }
  }

  /** Loads the component whose float16 twin overflowed in float32 from now on: remembered on disk, and the model reloaded. */
  private async refuseFloat16(idOrPath: string, err: NonFiniteOutputError): Promise<void> {
    const info = await this.registry.resolve(idOrPath);
    const original = info.components[err.component as OnnxComponent];
    if (!original) throw err;
    try {
      await refuseFloat16(original, `${new Date().toISOString()} ${err.message}`);
    } catch {
      throw err; // cannot remember it (a read-only folder): fail this generation rather than loop
    }
    this.options.log?.(`${original}: its float16 twin produced NaN or infinite values; loading it in float32 from now on (model.fp16.refused)`);
    for (const key of [...this.cache.keys()]) if (key === info.dir || key.startsWith(`${info.dir}\n`)) this.retire(key); // with any LoRAs merged in too
  }

  /** Requests with the same key (and model) can go through generateBatch together; undefined: run alone. */
  async batchKeyOf(idOrPath: string, input: GenerationInput): Promise<string | undefined> {
    const model = await this.model(idOrPath, input.loras);
    return batchKey(model, withDefaults(model.info.manifest, { ...input, seed: input.seed ?? 0 }));
  }

  /** Runs `work` with the model loaded and marked in use, so the cache does not evict it meanwhile. */
  private async using<T>(idOrPath: string, loras: readonly LoraChoice[], work: (model: LoadedModel) => Promise<T>): Promise<T> {
    const model = await this.model(idOrPath, loras);
    const key = loras.length ? `${model.info.dir}\n${loraSetKey(loras)}` : model.info.dir;
    const entry = this.cache.get(key);
    if (entry) entry.inUse++;
    try {
      return await work(model);
    } finally {
      if (entry) {
        entry.inUse--;
        entry.lastUsed = Date.now();
        if (entry.inUse === 0 && this.cache.get(key) !== entry) await model.dispose();
      }
    }
  }

  /** Drops a loaded model from the cache, so the next use loads it anew; disposed once no generation uses it. */
  private retire(key: string): void {
    const entry = this.cache.get(key);
    if (!entry) return;
    this.cache.delete(key);
    if (entry.inUse === 0) void entry.model.then((m) => m.dispose()).catch(() => undefined);
  }

  private async evict(keep: string): Promise<void> {
    const max = this.options.maxLoadedModels ?? 2;
    const idle = [...this.cache.entries()]
      .filter(([k, e]) => k !== keep && e.inUse === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while (this.cache.size > max && idle.length) {
      const [key, entry] = idle.shift()!;
      this.cache.delete(key);
      await (await entry.model).dispose();
    }
  }

  async dispose(): Promise<void> {
    const entries = [...this.cache.values()];
    this.cache.clear();
    await this.upscalers.dispose();
    await Promise.all(entries.map(async (e) => (await e.model.catch(() => undefined))?.dispose()));
  }
}
