/**
 * The only module that imports onnxruntime-node. Everything above it speaks float32 and int arrays:
 * each input is converted to the dtype the model declares (fp16, int64, ...) and every float output
 * comes back as float32, so pipelines never hard-code a dtype.
 */
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from './fp16.ts';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'webgpu'];

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

function providerConfig(provider: ExecutionProvider): ort.InferenceSession.ExecutionProviderConfig[] {
  // CPU stays listed last so operators a GPU provider lacks still run.
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
  ) {
    this.inputs = describe(session.inputMetadata);
    this.outputs = describe(session.outputMetadata);
  }

  /** Loads from a file path, so `model.onnx_data` next to it is found by ONNX Runtime itself. */
  static async load(path: string, options: SessionOptions): Promise<OnnxSession> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? 0,
    };
    try {
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: providerConfig(options.provider) });
      return new OnnxSession(session, path, options.provider);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (options.provider !== 'cpu' && isProviderFailure(reason)) {
        options.onFallback?.(
          `execution provider "${options.provider}" is not available (${firstLine(reason)}); using CPU instead.` +
            (options.provider === 'cuda' ? ' Install the CUDA provider with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install.' : ''),
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

  async run(feeds: Record<string, Feed>, outputNames?: readonly string[]): Promise<Record<string, Output>> {
    if (this.disposed) throw new Error(`session for ${this.path} was disposed`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const feed = feeds[info.name];
      if (!feed) throw new Error(`${this.path}: missing input "${info.name}" (model expects ${this.inputs.map((i) => i.name).join(', ')})`);
      ortFeeds[info.name] = toTensor(info, feed);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.hasInput(name)) throw new Error(`${this.path}: model has no input "${name}" (it has ${this.inputs.map((i) => i.name).join(', ')})`);
    }
    const result = outputNames ? await this.session.run(ortFeeds, outputNames) : await this.session.run(ortFeeds);
    const out: Record<string, Output> = {};
    for (const [name, value] of Object.entries(result)) {
      const t = value as ort.Tensor;
      out[name] = { data: fromTensor(t), dims: [...t.dims] };
      t.dispose();
    }
    return out;
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
