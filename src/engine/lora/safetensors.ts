/**
 * The safetensors format (github.com/huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header (`{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`), then
 * the raw little-endian tensors, offsets counted from the end of the header. No npm package for it is
 * kept up, and the format is this small, so it is read here: the header alone to list and check an
 * adapter, one tensor at a time to merge it.
 */
import { open, writeFile } from 'node:fs/promises';
import { float16ToFloat32 } from '../runtime/fp16.ts';

export interface TensorEntry {
  dtype: string;
  shape: number[];
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** A header larger than this is not an adapter's (kohya's biggest hold a few thousand tensors). */
const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

export async function readHeader(path: string): Promise<SafetensorsHeader> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const prefix = new Uint8Array(8);
    if (size < 8 || (await file.read(prefix, 0, 8, 0)).bytesRead < 8) throw new SafetensorsError(path, 'too short to be a safetensors file');
    const length = Number(new DataView(prefix.buffer).getBigUint64(0, true));
    if (length > MAX_HEADER || 8 + length > size) throw new SafetensorsError(path, `header length ${length} does not fit the file (${size} bytes): not a safetensors file`);
    const json = new Uint8Array(length);
    await file.read(json, 0, length, 8);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>;
    } catch {
      throw new SafetensorsError(path, 'header is not JSON: not a safetensors file');
    }
    const dataStart = 8 + length;
    const tensors = new Map<string, TensorEntry>();
    for (const [name, value] of Object.entries(parsed)) {
      if (name === '__metadata__') continue;
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const [begin, end] = Array.isArray(v.data_offsets) ? (v.data_offsets as number[]) : [];
      if (typeof v.dtype !== 'string' || !Array.isArray(v.shape) || typeof begin !== 'number' || typeof end !== 'number' || dataStart + end > size || begin > end) {
        throw new SafetensorsError(path, `tensor "${name}" has a malformed header entry`);
      }
      tensors.set(name, { dtype: v.dtype, shape: v.shape as number[], begin, end });
    }
    const metadata = (parsed['__metadata__'] ?? {}) as Record<string, string>;
    return { tensors, metadata, dataStart };
  } finally {
    await file.close();
  }
}

function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

/** Reads tensors of one file as float32 (F32, F16, BF16 and F64 stored). */
export class TensorReader {
  private constructor(
    private readonly path: string,
    private readonly header: SafetensorsHeader,
    private readonly file: Awaited<ReturnType<typeof open>>,
  ) {}

  static async open(path: string, header: SafetensorsHeader): Promise<TensorReader> {
    return new TensorReader(path, header, await open(path, 'r'));
  }

  async float32(name: string): Promise<Float32Array> {
    const entry = this.header.tensors.get(name);
    if (!entry) throw new SafetensorsError(this.path, `no tensor "${name}"`);
    const width = BYTES[entry.dtype];
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (!width) throw new SafetensorsError(this.path, `tensor "${name}" is ${entry.dtype}; LoRA weights must be F32, F16, BF16 or F64`);
    if (entry.end - entry.begin !== count * width) throw new SafetensorsError(this.path, `tensor "${name}" holds ${entry.end - entry.begin} bytes, not ${count} ${entry.dtype} values`);
    const bytes = new Uint8Array(entry.end - entry.begin);
    await this.file.read(bytes, 0, bytes.length, this.header.dataStart + entry.begin);
    if (entry.dtype === 'F32') return new Float32Array(bytes.buffer);
    if (entry.dtype === 'F64') return Float32Array.from(new Float64Array(bytes.buffer));
    const bits = new Uint16Array(bytes.buffer);
    return entry.dtype === 'F16' ? float16ToFloat32(bits) : bf16ToFloat32(bits);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Writes float32 tensors as a safetensors file (the LoRA makers in tools/lora, and tests). */
export async function writeSafetensors(path: string, tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata?: Record<string, string>): Promise<void> {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // The data section 8-byte aligned, as the reference writer does.
  const head = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat((8 - ((8 + json.length) % 8)) % 8));
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  await writeFile(path, out);
}
