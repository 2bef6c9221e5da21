/**
 * A tiny ONNX graph builder and the model file reader/writer, including ONNX's external-data
 * format (initializers in `model.onnx_data` next to `model.onnx`, which ONNX Runtime finds itself
 * when it loads the .onnx by path).
 *
 *   const g = new GraphBuilder('double');
 *   const x = g.input('x', 'float32', ['batch', 4]);
 *   g.output('y', 'float32', ['batch', 4], g.mul(x, g.constant(new Float32Array([2]), [])));
 *   await saveModel('double.onnx', g.toModel());
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { float32ToFloat16 } from '../runtime/fp16.ts';
import { externalRef } from './external-data.ts';
import {
  AttributeType,
  DataLocation,
  DataType,
  decodeModel,
  encodeModel,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto.ts';

export type TensorDType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool' | 'uint8' | 'int8' | 'double';

export const DTYPE_CODES: Record<TensorDType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  double: DataType.DOUBLE,
};

export type Dim = number | string;

/** Explicit float attributes (a bare integer-valued number is written as an INT attribute). */
export interface FloatAttr {
  float: number;
}
export interface FloatsAttr {
  floats: number[];
}
export type AttrValue = number | string | number[] | FloatAttr | FloatsAttr | TensorProto;

export function float(value: number): FloatAttr {
  return { float: value };
}
export function floats(values: number[]): FloatsAttr {
  return { floats: values };
}

export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Float64Array | readonly number[];

/**
 * Builds an initializer TensorProto with little-endian raw_data. `dtype` says how the values are
 * stored: numbers (or a Float32Array) given for a 'float16' tensor are converted to half precision;
 * a Uint16Array given for 'float16' is taken as half-precision bit patterns already.
 */
export function makeTensor(name: string, data: TensorData, dims: readonly number[], dtype: TensorDType = 'float32'): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
  let bytes: Uint8Array;
  const view = (a: ArrayBufferView) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  switch (dtype) {
    case 'float32':
      bytes = view(data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
      break;
    case 'float16':
      bytes = view(data instanceof Uint16Array ? data : float32ToFloat16(data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>)));
      break;
    case 'double':
      bytes = view(data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>));
      break;
    case 'int32':
      bytes = view(data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>));
      break;
    case 'int64':
      bytes = view(data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data as ArrayLike<number>, (v) => BigInt(v))));
      break;
    case 'uint8':
    case 'bool':
      bytes = view(data instanceof Uint8Array ? data : Uint8Array.from(data as ArrayLike<number>));
      break;
    case 'int8':
      bytes = view(data instanceof Int8Array ? data : Int8Array.from(data as ArrayLike<number>));
      break;
  }
  return { name, dims: [...dims], data_type: DTYPE_CODES[dtype], raw_data: bytes };
}

export function makeValueInfo(name: string, dtype: TensorDType, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DTYPE_CODES[dtype],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    return value.every(Number.isInteger) ? { name, type: AttributeType.INTS, ints: [...value] } : { name, type: AttributeType.FLOATS, floats: [...value] };
  }
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  return { name, type: AttributeType.TENSOR, t: value };
}

export interface ToModelOptions {
  /** Default opset 17. */
  opset?: number;
  /** Default 8 (onnxruntime-node 1.29 refuses IR versions above 10). */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: the name "${name}" is already used`);
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: TensorDType, dims: readonly Dim[]): string {
    this.inputs.push(makeValueInfo(this.claim(name), dtype, dims));
    return name;
  }

  /**
   * Declares a graph output. With `value`, an Identity node names that value `name`; without it,
   * some node must already produce (or later produce) a value called `name`.
   */
  output(name: string, dtype: TensorDType, dims: readonly Dim[], value?: string): string {
    if (value !== undefined) this.node('Identity', [value], [name]);
    this.outputs.push(makeValueInfo(name, dtype, dims));
    return name;
  }

  initializer(name: string, data: TensorData, dims: readonly number[], dtype: TensorDType = 'float32'): string {
    this.initializers.push(makeTensor(this.claim(name), data, dims, dtype));
    return name;
  }

  /** An initializer with a generated name. */
  constant(data: TensorData, dims: readonly number[], dtype: TensorDType = 'float32', hint = 'const'): string {
    const name = this.fresh(hint);
    this.initializers.push(makeTensor(name, data, dims, dtype));
    return name;
  }

  /**
   * Adds a node. `outputs` is either the output names or a count of outputs to name automatically.
   * Returns the output names.
   */
  node(opType: string, inputs: readonly string[], outputs: readonly string[] | number = 1, attrs: Record<string, AttrValue> = {}, domain?: string): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs.map((o) => this.claim(o));
    const node: NodeProto = {
      input: [...inputs],
      output: outs,
      name: this.fresh(`${opType}_node`),
      op_type: opType,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    };
    if (domain) node.domain = domain;
    this.nodes.push(node);
    return outs;
  }

  /** A node with one output: returns its name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, 1, attrs)[0]!;
  }

  // Common operators (opset 13+ forms: axes of Unsqueeze/Squeeze/ReduceSum are inputs).
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  /** x @ w (+ b). */
  linear(x: string, w: string, b?: string): string {
    const y = this.matmul(x, w);
    return b ? this.add(y, b) : y;
  }
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  silu(x: string): string {
    return this.mul(x, this.sigmoid(x));
  }
  tanh(x: string): string {
    return this.op('Tanh', [x]);
  }
  softmax(x: string, axis = -1): string {
    return this.op('Softmax', [x], { axis });
  }
  cast(x: string, to: TensorDType): string {
    return this.op('Cast', [x], { to: DTYPE_CODES[to] });
  }
  shape(x: string): string {
    return this.op('Shape', [x]);
  }
  reshape(x: string, shape: readonly number[] | string): string {
    const s = typeof shape === 'string' ? shape : this.constant(shape, [shape.length], 'int64', 'shape');
    return this.op('Reshape', [x, s]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }
  concat(xs: readonly string[], axis: number): string {
    return this.op('Concat', xs, { axis });
  }
  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.constant(axes, [axes.length], 'int64', 'axes')]);
  }
  squeeze(x: string, axes: number[]): string {
    return this.op('Squeeze', [x, this.constant(axes, [axes.length], 'int64', 'axes')]);
  }
  layerNorm(x: string, scale: string, bias: string, epsilon = 1e-5, axis = -1): string {
    return this.op('LayerNormalization', [x, scale, bias], { axis, epsilon: float(epsilon) });
  }
  conv(x: string, w: string, b: string | undefined, opts: { pads?: number[]; strides?: number[]; group?: number } = {}): string {
    const attrs: Record<string, AttrValue> = {};
    if (opts.pads) attrs.pads = opts.pads;
    if (opts.strides) attrs.strides = opts.strides;
    if (opts.group) attrs.group = opts.group;
    return this.op('Conv', b ? [x, w, b] : [x, w], attrs);
  }

  toModel(opts: ToModelOptions = {}): ModelProto {
    const produced = new Set<string>([...this.inputs.map((i) => i.name!), ...this.initializers.map((t) => t.name!)]);
    for (const n of this.nodes) for (const o of n.output!) produced.add(o);
    for (const o of this.outputs) if (!produced.has(o.name!)) throw new Error(`graph ${this.name}: output "${o.name}" is produced by no node`);
    const model: ModelProto = {
      ir_version: opts.irVersion ?? 8,
      opset_import: [{ domain: '', version: opts.opset ?? 17 }],
      producer_name: opts.producerName ?? 'darkroom',
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    if (opts.producerVersion) model.producer_version = opts.producerVersion;
    if (opts.docString) model.doc_string = opts.docString;
    return model;
  }
}

export interface SaveOptions {
  /** Write initializers into `<model file name>_data` next to the model (ONNX external-data format). */
  externalData?: boolean;
  /** Tensors smaller than this many bytes stay inside the .onnx (ONNX's own default is 1024). */
  externalDataThreshold?: number;
}

/** Alignment of each tensor in the data file (ONNX aligns big tensors to pages; small ones need less). */
const EXTERNAL_ALIGN = 64;

/**
 * Writes a model to `path`. With `externalData`, each initializer's raw_data moves into
 * `<basename(path)>_data` (e.g. `model.onnx_data`), and its TensorProto gets
 * data_location = EXTERNAL and external_data { location, offset, length }, exactly as ONNX's
 * `save_model(..., save_as_external_data=True)` does. The model passed in is not modified.
 */
export async function saveModel(path: string, model: ModelProto, options: SaveOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  if (!options.externalData) {
    await writeFile(path, encodeModel(model));
    return;
  }
  const threshold = options.externalDataThreshold ?? 1024;
  const location = `${basename(path)}_data`;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializer = (model.graph?.initializer ?? []).map((t): TensorProto => {
    const raw = t.raw_data;
    if (!raw || raw.byteLength < threshold) return t;
    const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    chunks.push(raw);
    const entry: TensorProto = { ...t, data_location: DataLocation.EXTERNAL, external_data: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ] };
    delete entry.raw_data;
    offset += raw.byteLength;
    return entry;
  });
  const out: ModelProto = { ...model, graph: { ...model.graph, initializer } };
  await writeFile(join(dirname(path), location), Buffer.concat(chunks));
  await writeFile(path, encodeModel(out));
}

/**
 * Reads a model. With `loadExternalData` (the default), tensors stored in external data are read
 * back into raw_data, so the result is self-contained (and can be saved again either way).
 */
export async function readModel(path: string, options: { loadExternalData?: boolean } = {}): Promise<ModelProto> {
  const model = decodeModel(await readFile(path));
  if (options.loadExternalData === false) return model;
  const files = new Map<string, Buffer>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.data_location !== DataLocation.EXTERNAL) continue;
    const { location, offset, length: declared } = externalRef(t, path);
    let file = files.get(location);
    if (!file) {
      file = await readFile(join(dirname(path), location));
      files.set(location, file);
    }
    const length = declared ?? file.byteLength - offset;
    if (offset + length > file.byteLength) throw new Error(`${path}: tensor ${t.name} runs past the end of ${location}`);
    t.raw_data = new Uint8Array(file.buffer, file.byteOffset + offset, length).slice();
    delete t.data_location;
    t.external_data = [];
  }
  return model;
}
