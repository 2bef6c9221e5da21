/**
 * The only module that imports onnxruntime-node. Everything above it speaks float32 and int arrays:
 * each input is converted to the dtype the model declares (fp16, int64, ...) and every float output
 * comes back as float32, so pipelines never hard-code a dtype.
 */
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from './fp16.ts';
import { findGraphCache, newGraphCache, type GraphCacheEntry } from './graph-cache.ts';
import type { ExecutionProvider } from './execution-provider.ts';

export { EXECUTION_PROVIDERS, type ExecutionProvider } from './execution-provider.ts';

export type ElementType = 'float32' | 'float16' | 'int32' | 'int64' | 'other';

export interface ValueInfo {
  name: string;
  type: ElementType;
  /** Numbers are fixed sizes; strings are symbolic (dynamic) dimensions. */
  shape: readonly (number | string)[];
}

/** A host-side value to feed: floats or integers, converted to the input's declared type on the way in. */
export interface Feed {
  data: Float32Array | Int32Array | readonly number[];
  dims: readonly number[];
}

export interface Output {
  data: Float32Array;
  dims: number[];
}

export interface SessionOptions {
  provider: ExecutionProvider;
  /** Threads for one operator on CPU; 0 lets ONNX Runtime choose. */
  threads?: number;
  /** Called once when the requested provider cannot be used and CPU is used instead. */
  onFallback?: (message: string) => void;
  /**
   * ONNX Runtime session settings beyond the defaults (graph optimisation level 'all', memory
   * pattern and arena on), per model file: a function of the .onnx path, or one value for all.
   */
  tuning?: SessionTuning | ((path: string) => SessionTuning | undefined);
  /**
   * Keep the graph ONNX Runtime optimises on disk, beside the model (graph-cache.ts), and load that
   * instead on later loads, with optimisations off. Default true; off when the tuning turns
   * optimisations off or names its own optimizedModelFilePath.
   */
  graphCache?: boolean;
}

/** Where a session's graph came from: the on-disk cache ('used'), optimised now and saved there ('made'), or optimised now only. */
export type GraphCacheUse = 'used' | 'made' | undefined;

/**
 * The onnxruntime-node 1.29 session settings Darkroom passes through (benchmarks, tuned deployments).
 * Only what that binding reads: it ignores freeDimensionOverrides and enableGraphCapture, and gives the
 * CUDA provider no options but the device id (so no CUDA graphs from Node).
 */
export interface SessionTuning {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  /** ONNX Runtime writes the graph it optimised here (load it later with graphOptimizationLevel 'disabled'). */
  optimizedModelFilePath?: string;
  enableMemPattern?: boolean;
  enableCpuMemArena?: boolean;
  executionMode?: 'sequential' | 'parallel';
  interOpNumThreads?: number;
  /**
   * Where outputs stay: 'gpu-buffer' keeps them on the device (onnxruntime-node binds outputs to
   * WebGPU buffers; no other provider supports it in 1.29). Get them with `runKeeping`'s `keep`, `read` them when needed.
   */
  preferredOutputLocation?: 'cpu' | 'gpu-buffer';
  /** WebGPU provider options, e.g. { preferredLayout: 'NHWC' }. */
  webgpu?: Record<string, string | boolean | readonly string[]>;
  /** Session configuration entries (onnxruntime_session_options_config_keys.h), e.g. { 'session.intra_op.allow_spinning': '0' }. */
  configEntries?: Record<string, string>;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * An input converted once to the model's element type and kept as an ONNX Runtime tensor, so runs
 * that reuse it (text states across denoising steps) skip the conversion; or an output kept where
 * the session left it (on the GPU with preferredOutputLocation 'gpu-buffer'), to feed to a later run.
 */
export class SessionValue {
  private released = false;

  /** @internal */
  constructor(
    readonly tensor: ort.Tensor,
    readonly dims: readonly number[],
  ) {}

  /** 'cpu', or 'gpu-buffer' for an output left on the device. */
  get location(): string {
    return this.tensor.location;
  }

  get disposed(): boolean {
    return this.released;
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.tensor.dispose();
  }
}

export function isSessionValue(v: Feed | SessionValue): v is SessionValue {
  return v instanceof SessionValue;
}

function resolveTuning(options: SessionOptions, path: string): SessionTuning | undefined {
  return typeof options.tuning === 'function' ? options.tuning(path) : options.tuning;
}

function ortOptions(t: SessionTuning | undefined): ort.InferenceSession.SessionOptions {
  if (!t) return {};
  const o: Record<string, unknown> = {};
  for (const key of [
    'graphOptimizationLevel',
    'optimizedModelFilePath',
    'enableMemPattern',
    'enableCpuMemArena',
    'executionMode',
    'interOpNumThreads',
    'logSeverityLevel',
  ] as const) {
    if (t[key] !== undefined) o[key] = t[key];
  }
  if (t.preferredOutputLocation && t.preferredOutputLocation !== 'cpu') o['preferredOutputLocation'] = t.preferredOutputLocation;
  if (t.configEntries && Object.keys(t.configEntries).length) o['extra'] = { ...t.configEntries };
  return o as ort.InferenceSession.SessionOptions;
}

function graphCacheOf(options: SessionOptions, tuning: SessionTuning | undefined, base: ort.InferenceSession.SessionOptions) {
  const level = base.graphOptimizationLevel ?? 'all';
  if (options.graphCache === false || level === 'disabled' || tuning?.optimizedModelFilePath) return undefined;
  return {
    provider: options.provider,
    level,
    runtimeVersion: ort.env.versions.common,
    options: { webgpu: options.provider === 'webgpu' ? tuning?.webgpu : undefined, configEntries: tuning?.configEntries },
  };
}

/**
 * A session on the model as it is, ONNX Runtime writing the graph it optimised into a new cache
 * entry; undefined when that fails (the caller loads without it, and so meets the model's own error).
 */
async function createSavingGraph(
  path: string,
  options: ort.InferenceSession.SessionOptions,
  entry: GraphCacheEntry,
): Promise<{ session: ort.InferenceSession; saved: boolean } | undefined> {
  const target = await newGraphCache(entry).catch(() => undefined);
  if (!target) return undefined;
  try {
    const session = await ort.InferenceSession.create(path, {
      ...options,
      optimizedModelFilePath: target.optimizedModelFilePath,
      // Not ONNX Runtime's warning that an 'all'-level graph fits this machine only: the entry's key names the machine.
      logSeverityLevel: options.logSeverityLevel ?? 3,
      extra: { ...(options.extra as Record<string, unknown> | undefined), ...target.configEntries },
    });
    return { session, saved: await target.commit() };
  } catch {
    await target.discard();
    return undefined;
  }
}

export class ModelLoadError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

function elementType(t: string): ElementType {
  return t === 'float32' || t === 'float16' || t === 'int32' || t === 'int64' ? t : 'other';
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return meta.map((m) =>
    m.isTensor ? { name: m.name, type: elementType(m.type), shape: [...m.shape] } : { name: m.name, type: 'other', shape: [] },
  );
}

function providerConfig(provider: ExecutionProvider, tuning?: SessionTuning): ort.InferenceSession.ExecutionProviderConfig[] {
  // CPU stays listed last so operators a GPU provider lacks still run.
  if (provider === 'webgpu' && tuning?.webgpu) return [{ name: 'webgpu', ...tuning.webgpu } as ort.InferenceSession.ExecutionProviderConfig, 'cpu'];
  return provider === 'cpu' ? ['cpu'] : [provider, 'cpu'];
}

export class OnnxSession {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  private disposed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly path: string,
    readonly provider: ExecutionProvider,
    /** The settings the session was created with (undefined: Darkroom's defaults). */
    readonly tuning?: SessionTuning,
    readonly graphCache?: GraphCacheUse,
  ) {
    this.inputs = describe(session.inputMetadata);
    this.outputs = describe(session.outputMetadata);
  }

  /** Loads from a file path, so `model.onnx_data` next to it is found by ONNX Runtime itself. */
  static async load(path: string, options: SessionOptions): Promise<OnnxSession> {
    const tuning = resolveTuning(options, path);
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? 0,
      ...ortOptions(tuning),
    };
    const executionProviders = providerConfig(options.provider, tuning);
    try {
      const cache = graphCacheOf(options, tuning, base);
      const entry = cache && (await findGraphCache(path, cache).catch(() => undefined));
      if (entry?.model) {
        // Optimised already: optimising it again is the time the cache saves. An entry that does not load is made again.
        const cached = await ort.InferenceSession.create(entry.model, { ...base, graphOptimizationLevel: 'disabled', executionProviders }).catch(() => undefined);
        if (cached) return new OnnxSession(cached, path, options.provider, tuning, 'used');
      }
      const made = entry && (await createSavingGraph(path, { ...base, executionProviders }, entry));
      if (made) return new OnnxSession(made.session, path, options.provider, tuning, made.saved ? 'made' : undefined);
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders });
      return new OnnxSession(session, path, options.provider, tuning);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (options.provider !== 'cpu' && isProviderFailure(reason)) {
        options.onFallback?.(
          `execution provider "${options.provider}" is not available (${firstLine(reason)}); using CPU instead.` +
            (options.provider === 'cuda' ? ' Install the CUDA provider with `npm run install:cuda`.' : ''),
        );
        return OnnxSession.load(path, { ...options, provider: 'cpu' });
      }
      throw new ModelLoadError(`cannot load ONNX model ${path}: ${firstLine(reason)}`, path);
    }
  }

  input(name: string): ValueInfo | undefined {
    return this.inputs.find((i) => i.name === name);
  }

  hasInput(name: string): boolean {
    return this.input(name) !== undefined;
  }

  output(name: string): ValueInfo | undefined {
    return this.outputs.find((o) => o.name === name);
  }

  /**
   * Converts `feed` to input `name`'s element type once; pass the result to `runKeeping` in place of the
   * feed, as often as needed, and dispose it when done.
   */
  prepare(name: string, feed: Feed): SessionValue {
    const info = this.input(name);
    if (!info) throw new Error(`${this.path}: model has no input "${name}" (it has ${this.inputs.map((i) => i.name).join(', ')})`);
    return new SessionValue(toTensor(info, feed), [...feed.dims]);
  }

  /** Runs the model on host values (each converted to its input's type); float outputs come back as float32. */
  async run(feeds: Record<string, Feed>, outputNames?: readonly string[]): Promise<Record<string, Output>> {
    return (await this.runKeeping(feeds, outputNames)).host;
  }

  /**
   * `run`, where feeds may also be SessionValues (from `prepare`, or kept by an earlier run), and the
   * outputs named in `keep` come back as SessionValues left where the session put them (on the GPU
   * with preferredOutputLocation 'gpu-buffer'), for the caller to feed on, `read` or dispose.
   */
  async runKeeping(
    feeds: Record<string, Feed | SessionValue>,
    outputNames?: readonly string[],
    keep: readonly string[] = [],
  ): Promise<{ host: Record<string, Output>; kept: Record<string, SessionValue> }> {
    if (this.disposed) throw new Error(`session for ${this.path} was disposed`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const feed = feeds[info.name];
      if (!feed) throw new Error(`${this.path}: missing input "${info.name}" (model expects ${this.inputs.map((i) => i.name).join(', ')})`);
      if (isSessionValue(feed)) {
        if (feed.disposed) throw new Error(`${this.path}: input "${info.name}" was disposed`);
        ortFeeds[info.name] = feed.tensor;
      } else ortFeeds[info.name] = toTensor(info, feed);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.hasInput(name)) throw new Error(`${this.path}: model has no input "${name}" (it has ${this.inputs.map((i) => i.name).join(', ')})`);
    }
    for (const name of keep) {
      if (!this.output(name)) throw new Error(`${this.path}: model has no output "${name}" to keep`);
    }
    const result = outputNames ? await this.session.run(ortFeeds, outputNames) : await this.session.run(ortFeeds);
    const host: Record<string, Output> = {};
    const kept: Record<string, SessionValue> = {};
    for (const [name, value] of Object.entries(result)) {
      const t = value as ort.Tensor;
      if (keep.includes(name)) {
        kept[name] = new SessionValue(t, [...t.dims]);
        continue;
      }
      host[name] = { data: await readTensor(t), dims: [...t.dims] };
      t.dispose();
    }
    return { host, kept };
  }

  /** A kept value's contents on the host, as float32 (downloads it from the device when it is there). */
  async read(value: SessionValue): Promise<Output> {
    if (value.disposed) throw new Error('value was disposed');
    return { data: await readTensor(value.tensor), dims: [...value.dims] };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}

function toTensor(info: ValueInfo, feed: Feed): ort.Tensor {
  const dims = [...feed.dims];
  const n = dims.reduce((a, b) => a * b, 1);
  if (feed.data.length !== n) throw new Error(`input "${info.name}": ${feed.data.length} values for shape [${dims.join(', ')}]`);
  switch (info.type) {
    case 'float32':
      return new ort.Tensor('float32', feed.data instanceof Float32Array ? feed.data : Float32Array.from(feed.data), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16(feed.data instanceof Float32Array ? feed.data : Float32Array.from(feed.data)), dims);
    case 'int32':
      return new ort.Tensor('int32', feed.data instanceof Int32Array ? feed.data : Int32Array.from(feed.data, Math.round), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(Array.from(feed.data, (v) => BigInt(Math.round(v)))), dims);
    default:
      throw new Error(`input "${info.name}" has unsupported element type`);
  }
}

async function readTensor(t: ort.Tensor): Promise<Float32Array> {
  if (t.location === 'cpu' || t.location === 'cpu-pinned') return fromTensor(t);
  const data = await t.getData();
  return fromTensor(new ort.Tensor(t.type as 'float32', data as Float32Array, t.dims));
}

function fromTensor(t: ort.Tensor): Float32Array {
  switch (t.type) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return float16ToFloat32(t.data as Uint16Array);
    case 'int32':
      return Float32Array.from(t.data as Int32Array);
    case 'int64':
      return Float32Array.from(t.data as BigInt64Array, Number);
    case 'bool': // a safety checker's has_nsfw_concepts
      return Float32Array.from(t.data as Uint8Array);
    default:
      throw new Error(`output of type ${t.type} is not supported`);
  }
}

function isProviderFailure(message: string): boolean {
  return /provider|cuda|webgpu|dawn|vulkan|libonnxruntime_providers|\.so/i.test(message);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
